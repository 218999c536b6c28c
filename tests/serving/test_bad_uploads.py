"""Refused uploads: a clear 4xx naming the field, and nothing half-written, neither a file
(staging included) nor a row."""

from __future__ import annotations

import httpx
import pytest
from tests.gateway.support import GatewayServer

from .builders import linear_onnx, pickled, tree
from .conftest import upload, uploaded_linear


@pytest.fixture
def serving_env() -> dict[str, str]:
    return {"MODELS_MAX_UPLOAD_BYTES": "4096", "MODELS_MAX_PER_USER": "2"}


async def assert_nothing_kept(gateway: GatewayServer, count: int = 0) -> None:
    root = gateway.services.settings.data_dir / "models"
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == count, files
    rows = await gateway.services.db.fetchval("SELECT COUNT(*) FROM served_models")
    assert rows == count


#: (file, form fields, file name, status, the field the error names)
CASES: list[tuple[bytes, dict[str, str], str, int, str]] = [
    (b"\x08\x07 this is not an onnx model", {}, "m.onnx", 400, "model"),
    (b"\x00" * 5000, {}, "m.onnx", 413, "model"),
    (pickled(tree()), {}, "m.pkl", 400, "format"),
    (pickled(tree()), {"format": "skops"}, "m.skops", 400, "model"),
    (linear_onnx(), {"format": "tensorflow"}, "m.onnx", 400, "format"),
    (linear_onnx(), {}, "m.bin", 400, "format"),
    (linear_onnx(), {"name": "bad name!"}, "m.onnx", 400, "name"),
    (linear_onnx(), {"visibility": "friends"}, "m.onnx", 400, "visibility"),
    (linear_onnx(), {"price_per_call": "0.0000001"}, "m.onnx", 400, "price_per_call"),
]


async def test_refused_uploads(gateway: GatewayServer) -> None:
    # One gateway for every case (starting one per case would cost seconds each).
    alice = await gateway.user()
    for content, fields, filename, status, param in CASES:
        response = await upload(gateway, alice, content, filename=filename, **fields)
        assert response.status_code == status, (filename, fields, response.text)
        assert response.json()["error"]["param"] == param, response.text
        await assert_nothing_kept(gateway)


async def test_not_multipart_is_a_415(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers) as client:
        response = await client.post("/api/v1/ml/models/upload", json={"name": "x"})
    assert response.status_code == 415
    assert response.json()["error"]["param"] == "content-type"
    await assert_nothing_kept(gateway)


async def test_quota_on_the_number_of_models(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    await uploaded_linear(gateway, alice)
    await uploaded_linear(gateway, alice)
    refused = await upload(gateway, alice, linear_onnx())
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "model_quota_exceeded"
    await assert_nothing_kept(gateway, count=2)
    # The quota is per user.
    await uploaded_linear(gateway, bob)

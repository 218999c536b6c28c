"""The model catalog over real HTTP: upload (streamed multipart), metadata read from the ONNX
graph, list/get/delete, versions, private and public models."""

from __future__ import annotations

import httpx
from tests.gateway.support import GatewayServer

from .builders import linear_onnx
from .conftest import multipart_bytes, upload, uploaded_linear


def model_files(gateway: GatewayServer) -> list[str]:
    root = gateway.services.settings.data_dir / "models"
    return sorted(p.name for p in root.rglob("*") if p.is_file())


async def test_upload_reads_metadata_and_stores_the_file(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    content = linear_onnx()
    response = await upload(gateway, alice, content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["converted_to"] is None
    model = body["model"]
    assert model["name"] == "linear"
    assert model["version"] == 1
    assert model["visibility"] == "private"
    assert model["size_bytes"] == len(content)
    assert len(model["sha256"]) == 64
    assert model["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    assert model["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]
    assert model["price_per_call"] == "0.000000"
    assert model_files(gateway) == [f"{body['model_id']}.onnx"]

    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers) as client:
        listed = (await client.get("/api/v1/ml/models")).json()["models"]
        assert [m["id"] for m in listed] == [body["model_id"]]
        by_name = await client.get("/api/v1/ml/models/linear")
        assert by_name.json()["id"] == body["model_id"]
        assert by_name.json()["owned_by"] == "you"


async def test_versions_visibility_and_delete(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    first = await uploaded_linear(gateway, alice)
    second = await uploaded_linear(gateway, alice, visibility="public")
    async with (
        httpx.AsyncClient(base_url=gateway.url, headers=alice.headers) as as_alice,
        httpx.AsyncClient(base_url=gateway.url, headers=bob.headers) as as_bob,
    ):
        latest = (await as_alice.get("/api/v1/ml/models/linear")).json()
        assert (latest["id"], latest["version"]) == (second, 2)
        # Bob sees the public version 2 only; version 1 is private to Alice.
        assert [m["id"] for m in (await as_bob.get("/api/v1/ml/models")).json()["models"]] == [
            second
        ]
        hidden = await as_bob.get(f"/api/v1/ml/models/{first}")
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "model_not_found"
        assert (await as_bob.get("/api/v1/ml/models/linear")).json()["id"] == second
        refused = await as_bob.delete(f"/api/v1/ml/models/{second}")
        assert refused.status_code == 403
        deleted = await as_alice.delete(f"/api/v1/ml/models/{first}")
        assert deleted.status_code == 200, deleted.text
        assert (await as_alice.get(f"/api/v1/ml/models/{first}")).status_code == 404
    assert model_files(gateway) == [f"{second}.onnx"]


async def test_routes_need_a_credential(gateway: GatewayServer) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        assert (await client.get("/api/v1/ml/models")).status_code == 401
        # One write: the 401 comes before the body is read (see the README on early answers).
        body, headers = multipart_bytes(linear_onnx(), name="x")
        unauthenticated = await client.post(
            "/api/v1/ml/models/upload", content=body, headers=headers
        )
        assert unauthenticated.status_code == 401
        assert (await client.post("/api/v1/ml/models/x/predict", json={})).status_code == 401
        assert (await client.get("/v2/models/x")).status_code == 401
    assert model_files(gateway) == []

"""Admins' pickles with MODELS_ALLOW_PICKLE=true: converted to ONNX in a child process and
served like any model; refused for other users (403) and when they do not convert (400),
with nothing left behind."""

from __future__ import annotations

import pickle

import httpx
import numpy as np
import pytest
from tests.gateway.support import GatewayServer

from .builders import features, pickled, tree
from .conftest import upload


@pytest.fixture
def serving_env() -> dict[str, str]:
    return {"MODELS_ALLOW_PICKLE": "true"}


class Explodes:
    """Unpickling this raises (as a hostile pickle might run anything): in the child only."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (int, ("not a number",))


async def test_admin_pickles_are_converted_others_refused(gateway: GatewayServer) -> None:
    admin, alice = await gateway.user(admin=True), await gateway.user()
    estimator = tree()
    uploaded = await upload(gateway, admin, pickled(estimator), filename="m.joblib", name="t")
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["converted_to"] == "onnx"
    assert uploaded.json()["model"]["source_format"] == "joblib"
    x = features(rows=5, seed=9)
    async with httpx.AsyncClient(base_url=gateway.url, headers=admin.headers) as client:
        answer = await client.post("/api/v1/ml/models/t/predict", json={"input": x.tolist()})
    assert answer.status_code == 200, answer.text
    assert np.allclose(np.ravel(answer.json()["output"]), estimator.predict(x), atol=1e-5)

    refused = await upload(gateway, alice, pickled(estimator), filename="m.pkl", name="t")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["param"] == "format"
    for content in (pickle.dumps(Explodes()), pickle.dumps({"not": "a model"})):
        bad = await upload(gateway, admin, content, filename="m.pkl", name="bad")
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["param"] == "model"
    root = gateway.services.settings.data_dir / "models"
    assert len([p for p in root.rglob("*") if p.is_file()]) == 1

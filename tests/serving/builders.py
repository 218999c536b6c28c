"""Small models built in the tests (never downloaded): an ONNX linear layer made with the
onnx helper API, and scikit-learn estimators saved with skops."""

from __future__ import annotations

import io
import pickle

import numpy as np
import onnx
import skops.io as sio
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeRegressor

__all__ = [
    "BIAS",
    "WEIGHTS",
    "features",
    "linear_onnx",
    "logistic",
    "pickled",
    "skops_bytes",
    "tree",
]

WEIGHTS = np.array([[1.0, -2.0], [0.5, 0.25], [-1.5, 3.0]], dtype=np.float32)
BIAS = np.array([0.1, -0.2], dtype=np.float32)


def linear_onnx() -> bytes:
    """y = x @ WEIGHTS + BIAS; x: FP32 [batch, 3], y: FP32 [batch, 2]."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "B"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            numpy_helper.from_array(WEIGHTS, "W"),
            numpy_helper.from_array(BIAS, "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def features(rows: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((rows, 4), dtype=np.float32)


def logistic() -> LogisticRegression:
    x = features()
    return LogisticRegression().fit(x, (x[:, 0] + x[:, 1] > 1.0).astype(np.int64))


def tree() -> DecisionTreeRegressor:
    x = features()
    return DecisionTreeRegressor(max_depth=4, random_state=0).fit(x, x[:, 0] * 3 - x[:, 2])


def skops_bytes(estimator: object) -> bytes:
    data: bytes = sio.dumps(estimator)
    return data


def pickled(estimator: object) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(estimator, buffer)
    return buffer.getvalue()

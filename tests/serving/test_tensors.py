"""Open Inference Protocol tensors: JSON and binary decoding checked against the model's
declared inputs, and encoding back (BYTES included)."""

from __future__ import annotations

import numpy as np
import pytest

from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.formats import TensorSpec
from gpuproxy.serving.tensors import (
    check_input,
    decode_binary,
    decode_json,
    encode_binary,
    encode_json,
)

FP32_ROWS = TensorSpec("x", "FP32", [-1, 3])


def test_json_nested_or_flat_data_gives_the_same_array() -> None:
    dims = check_input(FP32_ROWS, "FP32", [2, 3], "inputs[0]")
    flat = decode_json("FP32", dims, [1, 2, 3, 4, 5, 6], "inputs[0]")
    nested = decode_json("FP32", dims, [[1, 2, 3], [4, 5, 6]], "inputs[0]")
    assert flat.dtype == np.float32
    assert np.array_equal(flat, nested)
    assert flat.shape == (2, 3)


@pytest.mark.parametrize(
    ("datatype", "shape", "param"),
    [
        ("FP64", [1, 3], "inputs[0].datatype"),
        ("FP32", [1, 4], "inputs[0].shape"),
        ("FP32", [3], "inputs[0].shape"),
        ("FP32", [1, -3], "inputs[0].shape"),
        ("FP32", "1,3", "inputs[0].shape"),
    ],
)
def test_a_datatype_or_shape_the_model_does_not_take_is_a_400_naming_it(
    datatype: str, shape: object, param: str
) -> None:
    with pytest.raises(ModelError) as caught:
        check_input(FP32_ROWS, datatype, shape, "inputs[0]")
    assert caught.value.http_status == 400
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("datatype", "data"),
    [("FP32", [1, 2]), ("FP32", [1, "2", 3]), ("INT64", [1, 2.5, 3]), ("BOOL", [1, 0, 1])],
)
def test_bad_data_is_a_400(datatype: str, data: list[object]) -> None:
    with pytest.raises(ModelError) as caught:
        decode_json(datatype, (1, 3), data, "inputs[0]")
    assert caught.value.http_status == 400
    assert caught.value.param == "inputs[0].data"


def test_binary_round_trip_numbers_and_bytes() -> None:
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    head, raw = encode_binary("out", array)
    assert head["parameters"] == {"binary_data_size": 24}
    assert np.array_equal(decode_binary("INT32", (2, 3), raw, "inputs[0]"), array)
    words = np.array(["a", "héllo"], dtype=np.object_)
    head, raw = encode_binary("words", words)
    assert head["datatype"] == "BYTES"
    assert decode_binary("BYTES", (2,), raw, "inputs[0]").tolist() == ["a", "héllo"]
    with pytest.raises(ModelError):
        decode_binary("INT32", (2, 3), raw[:-1], "inputs[0]")
    with pytest.raises(ModelError):
        decode_binary("BYTES", (2,), raw[:-1], "inputs[0]")


def test_json_encoding_keeps_shape_and_datatype() -> None:
    encoded = encode_json("p", np.array([[0.5, 0.25]], dtype=np.float64))
    assert encoded == {"name": "p", "datatype": "FP64", "shape": [1, 2], "data": [0.5, 0.25]}

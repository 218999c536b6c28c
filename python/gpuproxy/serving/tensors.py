"""Open Inference Protocol v2 tensors <-> numpy arrays, checked against a model's inputs.

JSON tensors carry `data` as a flat (or nested) list in row-major order; the binary tensor
extension carries the bytes after the JSON header instead (`parameters.binary_data_size`),
BYTES elements each prefixed with their 4-byte little-endian length.
Every refusal is a 400 naming the field (`inputs[0].shape`, ...).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.formats import TensorSpec

__all__ = ["DTYPES", "check_input", "decode_binary", "decode_json", "encode_binary", "encode_json"]

DTYPES: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
    "BYTES": np.object_,
}  # fmt: skip
_MAX_ELEMENTS = 1 << 28


def _bad(param: str, message: str) -> ModelError:
    return ModelError(400, f"{param}: {message}", code="invalid_tensor", param=param)


def _shape(value: Any, param: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise _bad(param, "expected a list of non-negative integers")
    count = 1
    for d in value:
        count *= d
    if count > _MAX_ELEMENTS:
        raise _bad(param, f"more than {_MAX_ELEMENTS} elements")
    return tuple(value)


def check_input(spec: TensorSpec, datatype: Any, shape: Any, param: str) -> tuple[int, ...]:
    """The request's shape, once its datatype and shape fit what the model declares."""
    if datatype != spec.datatype:
        raise _bad(f"{param}.datatype", f"the model expects {spec.datatype}, got {datatype!r}")
    dims = _shape(shape, f"{param}.shape")
    if len(dims) != len(spec.shape) or any(
        want not in (-1, got) for want, got in zip(spec.shape, dims, strict=False)
    ):
        raise _bad(f"{param}.shape", f"the model expects {spec.shape} (-1: any), got {list(dims)}")
    return dims


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def decode_json(datatype: str, dims: tuple[int, ...], data: Any, param: str) -> np.ndarray:
    flat = _flatten(data)
    expected = int(np.prod(dims, dtype=np.int64))
    if len(flat) != expected:
        raise _bad(f"{param}.data", f"{len(flat)} elements for shape {list(dims)} ({expected})")
    if datatype == "BYTES":
        if not all(isinstance(item, str) for item in flat):
            raise _bad(f"{param}.data", "BYTES elements must be strings")
        return np.array(flat, dtype=np.object_).reshape(dims)
    if datatype == "BOOL":
        if not all(isinstance(item, bool) for item in flat):
            raise _bad(f"{param}.data", "BOOL elements must be true or false")
    elif not all(isinstance(item, int | float) and not isinstance(item, bool) for item in flat):
        raise _bad(f"{param}.data", f"{datatype} elements must be numbers")
    try:
        array = np.array(flat, dtype=DTYPES[datatype])
    except (OverflowError, ValueError) as exc:
        raise _bad(f"{param}.data", f"a value does not fit {datatype}") from exc
    if datatype.startswith(("INT", "UINT")) and not all(isinstance(i, int) for i in flat):
        raise _bad(f"{param}.data", f"{datatype} elements must be integers")
    return array.reshape(dims)


def decode_binary(datatype: str, dims: tuple[int, ...], raw: bytes, param: str) -> np.ndarray:
    expected = int(np.prod(dims, dtype=np.int64))
    if datatype == "BYTES":
        items: list[str] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise _bad(param, "truncated BYTES element length")
            (length,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise _bad(param, "truncated BYTES element")
            items.append(raw[offset : offset + length].decode("utf-8", "replace"))
            offset += length
        if len(items) != expected:
            raise _bad(param, f"{len(items)} BYTES elements for shape {list(dims)}")
        return np.array(items, dtype=np.object_).reshape(dims)
    dtype = np.dtype(DTYPES[datatype])
    if len(raw) != expected * dtype.itemsize:
        raise _bad(
            f"{param}.parameters.binary_data_size",
            f"{len(raw)} bytes for shape {list(dims)} of {datatype} "
            f"({expected * dtype.itemsize} expected)",
        )
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).reshape(dims)


def _datatype_of(array: np.ndarray) -> str:
    if array.dtype == np.object_ or array.dtype.kind in "US":
        return "BYTES"
    for name, dtype in DTYPES.items():
        if name != "BYTES" and array.dtype == np.dtype(dtype):
            return name
    raise ModelError(500, f"unsupported output dtype {array.dtype}", code="model_output")


def encode_json(name: str, array: np.ndarray) -> dict[str, Any]:
    datatype = _datatype_of(array)
    flat = array.reshape(-1)
    if datatype == "BYTES":
        data: list[Any] = [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat
        ]
    else:
        data = flat.tolist()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def encode_binary(name: str, array: np.ndarray) -> tuple[dict[str, Any], bytes]:
    datatype = _datatype_of(array)
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in array.reshape(-1):
            item = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(item)) + item)
        raw = b"".join(parts)
    else:
        raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    head = {
        "name": name,
        "datatype": datatype,
        "shape": list(array.shape),
        "parameters": {"binary_data_size": len(raw)},
    }
    return head, raw

"""Open Inference Protocol v2 (KServe / Triton) inference requests and answers over HTTP,
with the binary tensor extension: the body is a JSON header of
`Inference-Header-Content-Length` bytes followed by the tensors' raw bytes, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from gpuproxy.serving.catalog import ModelRecord
from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.runtime import Ran
from gpuproxy.serving.tensors import (
    check_input,
    decode_binary,
    decode_json,
    encode_binary,
    encode_json,
)

__all__ = ["HEADER_LENGTH", "InferCall", "encode_answer", "parse_infer"]

#: The binary extension's header: how many leading bytes of the body are the JSON part.
HEADER_LENGTH = "inference-header-content-length"


class _Input(msgspec.Struct):
    name: str
    shape: Any
    datatype: str
    parameters: dict[str, Any] | None = None
    data: Any = None


class _Output(msgspec.Struct):
    name: str
    parameters: dict[str, Any] | None = None


class _Request(msgspec.Struct):
    inputs: list[_Input]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[_Output] | None = None


_decoder = msgspec.json.Decoder(_Request)
_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class InferCall:
    feeds: dict[str, np.ndarray]
    outputs: list[str]
    binary: set[str]  # outputs answered as binary data
    request_id: str | None


def _binary_flag(parameters: dict[str, Any] | None, name: str) -> bool:
    value = (parameters or {}).get(name, False)
    return value is True


def parse_infer(body: bytes, header_length: str | None, record: ModelRecord) -> InferCall:
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError:
            split = -1
        if not 0 < split <= len(body):
            raise ModelError(
                400,
                f"{HEADER_LENGTH}: expected the JSON header's length (at most {len(body)})",
                param=HEADER_LENGTH,
            )
        head, tail = body[:split], body[split:]
    else:
        head, tail = body, b""
    try:
        request = _decoder.decode(head)
    except msgspec.ValidationError as exc:
        raise ModelError(400, f"body: {exc}", param="body") from exc
    except msgspec.DecodeError as exc:
        raise ModelError(400, f"body: not valid JSON: {exc}", param="body") from exc
    specs = {s.name: s for s in record.inputs}
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for i, tensor in enumerate(request.inputs):
        param = f"inputs[{i}]"
        spec = specs.get(tensor.name)
        if spec is None:
            raise ModelError(
                400, f"{param}.name: the model has no input {tensor.name!r}", param=f"{param}.name"
            )
        if tensor.name in feeds:
            raise ModelError(
                400, f"{param}.name: {tensor.name!r} given twice", param=f"{param}.name"
            )
        dims = check_input(spec, tensor.datatype, tensor.shape, param)
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is not None:
            if (
                not isinstance(size, int)
                or isinstance(size, bool)
                or not 0 <= size <= len(tail) - offset
            ):
                raise ModelError(
                    400,
                    f"{param}.parameters.binary_data_size: expected at most the "
                    f"{len(tail) - offset} bytes left in the body",
                    param=f"{param}.parameters.binary_data_size",
                )
            raw = tail[offset : offset + size]
            offset += size
            feeds[spec.name] = decode_binary(spec.datatype, dims, raw, param)
        else:
            if tensor.data is None:
                raise ModelError(400, f"{param}.data: missing", param=f"{param}.data")
            feeds[spec.name] = decode_json(spec.datatype, dims, tensor.data, param)
    if offset != len(tail):
        raise ModelError(400, f"body: {len(tail) - offset} bytes after the tensors", param="body")
    for spec in record.inputs:
        if spec.name not in feeds:
            raise ModelError(400, f"inputs: {spec.name!r} is missing", param="inputs")
    all_binary = _binary_flag(request.parameters, "binary_data_output")
    known = [o.name for o in record.outputs]
    if request.outputs:
        names: list[str] = []
        binary: set[str] = set()
        for i, out in enumerate(request.outputs):
            if out.name not in known:
                raise ModelError(
                    400,
                    f"outputs[{i}].name: the model has no output {out.name!r}",
                    param=f"outputs[{i}].name",
                )
            names.append(out.name)
            if all_binary or _binary_flag(out.parameters, "binary_data"):
                binary.add(out.name)
    else:
        names = known
        binary = set(known) if all_binary else set()
    return InferCall(feeds, names, binary, request.id)


def encode_answer(
    record: ModelRecord, call: InferCall, ran: Ran
) -> tuple[bytes, dict[str, str], str]:
    """(body, headers, media type) of the answer: JSON, or JSON + binary tensors."""
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name in call.outputs:
        array = ran.outputs[name]
        if name in call.binary:
            head, raw = encode_binary(name, array)
            outputs.append(head)
            blobs.append(raw)
        else:
            outputs.append(encode_json(name, array))
    answer: dict[str, Any] = {
        "model_name": record.name,
        "model_version": str(record.version),
        "outputs": outputs,
        "parameters": {
            "runtime": ran.runtime,
            "used_gpu": ran.used_gpu,
            "latency_ms": round(ran.latency_ms, 3),
            "batch_size": ran.batch_size,
        },
    }
    if call.request_id is not None:
        answer["id"] = call.request_id
    header = _encode(answer)
    if not blobs:
        return header, {}, "application/json"
    return (
        header + b"".join(blobs),
        {HEADER_LENGTH: str(len(header))},
        "application/octet-stream",
    )

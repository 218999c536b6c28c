"""What an uploaded file is: validation and conversion to the ONNX graph that is served.

- `onnx`: checked with the onnx checker, then its inputs and outputs are read.
- `skops` (scikit-learn, the safe format): loaded with skops, which refuses types outside its
  trusted list instead of running their code; scikit-learn's own classes are added to that
  list (their state is plain arrays), anything else is refused and named. The estimator is
  converted with skl2onnx (classifiers without the ZipMap, so every output is a tensor).
- `pkl`/`joblib`: pickles run code when loaded, so only admins may upload them and only with
  MODELS_ALLOW_PICKLE=true; they are converted in a child process (`gpuproxy.serving.pickles`),
  refused here otherwise.
- `pytorch` is refused for now (it needs a sandboxed conversion): see the README.

Everything here is blocking (file I/O, protobuf parsing): callers run it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from gpuproxy.serving.errors import ModelError

__all__ = [
    "FORMATS",
    "Prepared",
    "TensorSpec",
    "convert_estimator",
    "inspect_onnx",
    "prepare",
    "resolve_format",
]

#: `format` values a client may send (case-insensitive), and the extension each implies.
FORMATS = ("onnx", "skops", "sklearn", "pkl", "joblib", "pytorch")
_SUFFIXES = {".onnx": "onnx", ".skops": "skops", ".pkl": "pkl", ".joblib": "joblib"}
_SUFFIXES |= {".pt": "pytorch", ".pth": "pytorch"}


class TensorSpec(msgspec.Struct, frozen=True):
    """One input or output as the Open Inference Protocol describes it (-1: any size)."""

    name: str
    datatype: str
    shape: list[int]


@dataclass(slots=True)
class Prepared:
    """The ONNX model that will be served (bytes of a converted model, or the upload itself)."""

    source_format: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    converted: bytes | None  # None: serve the uploaded file as is


# ONNX TensorProto element types -> Open Inference Protocol datatypes.
_DATATYPES = {
    1: "FP32", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
    8: "BYTES", 9: "BOOL", 10: "FP16", 11: "FP64", 12: "UINT32", 13: "UINT64", 16: "BF16",
}  # fmt: skip


def resolve_format(declared: str | None, filename: str | None) -> str:
    """The upload's format: the `format` field, else the file name's extension."""
    if declared:
        value = declared.strip().lower()
        if value not in FORMATS:
            raise ModelError(400, f"format: expected one of {', '.join(FORMATS)}", param="format")
        return "skops" if value == "sklearn" else value
    suffix = Path(filename or "").suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise ModelError(
        400,
        "format: not given and the file name has no known extension "
        "(.onnx, .skops, .pkl, .joblib, .pt, .pth)",
        param="format",
    )


def prepare(path: Path, fmt: str) -> Prepared:
    """onnx, skops and pytorch uploads; pickles never come here (`gpuproxy.serving.pickles`
    converts them in a child process)."""
    if fmt == "onnx":
        inputs, outputs = _inspect(_load_onnx(path))
        return Prepared("onnx", inputs, outputs, None)
    if fmt == "skops":
        return _from_skops(path)
    if fmt != "pytorch":
        raise ValueError(f"not a format prepared in process: {fmt}")
    raise ModelError(
        400,
        "format: PyTorch conversion is not available in this version; export the model to "
        "ONNX (torch.onnx.export) and upload the .onnx file",
        code="format_unsupported",
        param="format",
    )


def inspect_onnx(path: Path, source_format: str) -> Prepared:
    """An ONNX file made here (a converted pickle): checked and described, served as is."""
    inputs, outputs = _inspect(_load_onnx(path))
    return Prepared(source_format, inputs, outputs, None)


def _load_onnx(path: Path) -> Any:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(str(path))
    except Exception as exc:  # protobuf's DecodeError, the checker's ValidationError, ...
        raise ModelError(
            400, f"model: not a valid ONNX model: {_short(exc)}", param="model"
        ) from exc
    return model


def _inspect(model: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [_spec(v, "input") for v in graph.input if v.name not in initializers]
    outputs = [_spec(v, "output") for v in graph.output]
    if not inputs or not outputs:
        raise ModelError(400, "model: the graph has no inputs or no outputs", param="model")
    return inputs, outputs


def _spec(value: Any, kind: str) -> TensorSpec:
    if not value.type.HasField("tensor_type"):
        raise ModelError(
            400,
            f"model: {kind} {value.name!r} is not a tensor (sequences and maps are not served)",
            param="model",
        )
    tensor = value.type.tensor_type
    datatype = _DATATYPES.get(tensor.elem_type)
    if datatype is None:
        raise ModelError(
            400, f"model: {kind} {value.name!r} has an unsupported element type", param="model"
        )
    shape = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    return TensorSpec(value.name, datatype, shape)


def _from_skops(path: Path) -> Prepared:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:  # a corrupt zip or schema: skops raises many kinds
        raise ModelError(
            400, f"model: not a valid skops file: {_short(exc)}", param="model"
        ) from exc
    refused = [t for t in untrusted if not t.startswith("sklearn.")]
    if refused:
        raise ModelError(
            400,
            "model: the skops file holds types that are not trusted: " + ", ".join(refused),
            code="untrusted_types",
            param="model",
        )
    try:
        estimator = sio.load(str(path), trusted=untrusted)
    except Exception as exc:
        raise ModelError(
            400, f"model: the skops file did not load: {_short(exc)}", param="model"
        ) from exc
    return convert_estimator(estimator, "skops")


def convert_estimator(estimator: Any, source_format: str) -> Prepared:
    """A fitted scikit-learn estimator as an ONNX graph (skl2onnx)."""
    features = getattr(estimator, "n_features_in_", None)
    if not isinstance(features, int):
        raise ModelError(
            400,
            "model: not a fitted scikit-learn estimator (no n_features_in_)",
            param="model",
        )
    # Imported here: skl2onnx takes seconds to import, and only conversions need it.
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    options = {"zipmap": False} if is_classifier(estimator) else None
    try:
        converted = to_onnx(
            estimator,
            initial_types=[("input", FloatTensorType([None, features]))],
            options=options,
        )
    except Exception as exc:  # skl2onnx raises RuntimeError, NameError, ... per estimator
        raise ModelError(
            400,
            f"model: {type(estimator).__name__} cannot be converted to ONNX: {_short(exc)}",
            code="conversion_failed",
            param="model",
        ) from exc
    inputs, outputs = _inspect(converted)
    return Prepared(source_format, inputs, outputs, converted.SerializeToString())


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]

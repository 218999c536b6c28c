"""Model serving: a catalog of uploaded models (ONNX, scikit-learn via skops), ONNX Runtime
sessions, the seed's `/api/v1/models` routes and the Open Inference Protocol v2 (`/v2`).

Kept free of imports here: `gpuproxy.config` imports `gpuproxy.serving.settings`, and
onnxruntime/onnx load only when the serving service starts.
"""

__all__: list[str] = []

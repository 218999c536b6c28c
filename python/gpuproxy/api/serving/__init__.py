"""HTTP routes of uploaded models: the model registry and the Open Inference Protocol v2."""

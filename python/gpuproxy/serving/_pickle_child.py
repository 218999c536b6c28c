"""Run as a child process (`python -m gpuproxy.serving._pickle_child IN OUT`): load an
admin's scikit-learn pickle and write it converted to ONNX.

A pickle runs whatever code it names when loaded, so it is never loaded in the server: this
process starts with limits on memory and CPU time set before the file is opened, and the
parent kills it past a wall-clock timeout. It has no network isolation (that needs a
container or namespaces): only admins may upload pickles, and only with
MODELS_ALLOW_PICKLE=true. Exit status 0 and the ONNX file written, or 2 and one line on
stderr saying why.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

__all__ = ["main"]

_MEMORY_BYTES = 2 * 1024 * 1024 * 1024
_CPU_SECONDS = 60


def main(argv: list[str]) -> int:
    source, target = Path(argv[0]), Path(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_BYTES, _MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (_CPU_SECONDS, _CPU_SECONDS))
    import joblib  # reads plain pickles too

    from gpuproxy.serving.errors import ModelError
    from gpuproxy.serving.formats import convert_estimator

    try:
        estimator = joblib.load(source)
        converted = convert_estimator(estimator, "pkl")
    except ModelError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"model: the pickle did not load: {type(exc).__name__}: {exc}"[:300], file=sys.stderr)
        return 2
    assert converted.converted is not None
    target.write_bytes(converted.converted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

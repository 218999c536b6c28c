"""aiserve-gpuproxy: GPU marketplace aggregator and inference gateway."""

from gpuproxy._core import __version__

__all__ = ["__version__"]

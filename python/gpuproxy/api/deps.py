"""Dependency-injection names shared by controllers.

Handlers declare `services: ServicesDep` to receive the app's `Services`.
"""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency

from gpuproxy.services import Services

__all__ = ["ServicesDep"]

ServicesDep: TypeAlias = NamedDependency[Services]

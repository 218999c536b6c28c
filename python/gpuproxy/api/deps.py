"""Dependency-injection names shared by controllers.

Handlers declare `services: ServicesDep` to receive the app's `Services`.
"""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency
from litestar.params import SkipValidation

from gpuproxy.services import Services

__all__ = ["ServicesDep"]

# SkipValidation: the signature model must not introspect Services (its fields are typed
# with names imported under TYPE_CHECKING, which do not resolve at run time).
ServicesDep: TypeAlias = NamedDependency[SkipValidation[Services]]

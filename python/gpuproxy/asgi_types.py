"""ASGI type names for the raw ASGI code (the control plane's middleware, the worker's app).

Raw ASGI rather than framework types: the middleware wraps whatever app it is given and
the worker runs without a framework.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
#: Any ASGI app a middleware wraps; open-ended because frameworks type their own (Litestar's
#: scope is a TypedDict union), and the middleware only passes the three arguments on.
ASGIApp: TypeAlias = Callable[..., Awaitable[None]]

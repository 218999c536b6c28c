"""What an agent action is: a name, the scope it needs, JSON Schemas for its input and
output, and a handler over the existing services. Protocols only translate to and from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal
    from gpuproxy.services import Services

__all__ = ["Action", "AgentContext", "Progress", "object_schema"]

#: `await progress(done, total, message)`: a protocol that can stream reports it.
Progress = Callable[[float, float | None, str], Awaitable[None]]


async def _no_progress(done: float, total: float | None, message: str) -> None:
    return None


@dataclass(frozen=True)
class AgentContext:
    """One call of one action: who calls, with which credential, and where progress goes."""

    services: Services
    principal: Principal
    #: The header the caller authenticated with (Authorization or X-API-Key), sent on to the
    #: data plane for inference so it authenticates, limits and bills the same caller.
    credential: Mapping[str, str]
    progress: Progress = field(default=_no_progress)


Handler = Callable[[AgentContext, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Action:
    name: str
    #: The tool name agents see (MCP, LangChain): the seed's names where it had one.
    tool: str
    title: str
    description: str
    scope: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any]
    handler: Handler
    #: Changes state (rent, destroy, reserve): MCP's destructiveHint / readOnlyHint.
    mutates: bool = False
    destructive: bool = False


def object_schema(
    properties: Mapping[str, Any], required: tuple[str, ...] = (), *, closed: bool = True
) -> dict[str, Any]:
    """A JSON Schema object; `closed` refuses unknown fields (input schemas)."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema

"""The one table of agent actions and the one way to run them.

`run_action` is what every protocol calls: it checks the scope the REST route would
check, validates the arguments against the action's input schema (400 naming the field),
and runs the handler as the caller. Ownership checks live in the services the handlers
call (another user's instance is "not found", as on REST).
"""

from __future__ import annotations

from typing import Any

from gpuproxy.agents.action import Action, AgentContext
from gpuproxy.agents.arguments import check_arguments
from gpuproxy.agents.billing_actions import BILLING_ACTIONS
from gpuproxy.agents.errors import ActionForbidden, UnknownAction
from gpuproxy.agents.gpu_actions import GPU_ACTIONS
from gpuproxy.agents.inference_actions import INFERENCE_ACTIONS

__all__ = ["ACTIONS", "BY_NAME", "BY_TOOL", "find_action", "run_action"]

ACTIONS: tuple[Action, ...] = (*GPU_ACTIONS, *BILLING_ACTIONS, *INFERENCE_ACTIONS)
BY_NAME = {a.name: a for a in ACTIONS}
BY_TOOL = {a.tool: a for a in ACTIONS}


def find_action(name: str) -> Action:
    """An action by its tool name (list_gpu_instances) or action name (list_offers)."""
    action = BY_TOOL.get(name) or BY_NAME.get(name)
    if action is None:
        raise UnknownAction(f"unknown tool {name!r}; known: {', '.join(BY_TOOL)}")
    return action


async def run_action(ctx: AgentContext, action: Action, arguments: Any) -> dict[str, Any]:
    if not ctx.principal.has_scope(action.scope):
        raise ActionForbidden(f"this API key lacks the '{action.scope}' scope")
    return await action.handler(ctx, check_arguments(action.input_schema, arguments))

"""ACP over HTTP, under `/api/v1/acp` (the base URL an `acp_sdk.client.Client` is given):

- `GET  /agents`, `GET /agents/{name}` the one agent, `gpuproxy`, and its manifest;
  `GET /ping`.
- `POST /runs` `{agent_name, input: [Message], mode: sync|async|stream, session_id?}`:
  sync answers the finished run, async 202 with the created run, stream the run's events
  as SSE; the `Run-ID` header names the run.
- `GET  /runs/{run_id}`, `GET /runs/{run_id}/events`, `POST /runs/{run_id}/cancel`
  (202 `cancelling`; 403 once finished); `POST /runs/{run_id}` (resume) is 403: runs never
  await input; `GET /sessions/{id}` is 404 (sessions are not kept; a run echoes the id).
- `POST /api/v1/acp` the seed's `{header, payload: {command, parameters}}`, answered in
  the same form.

Errors carry ACP's `{code, message, data}` at the top level (what the SDK client reads)
next to the API's usual `error` object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import Stream

from gpuproxy.agents.acp.messages import AGENT_NAME, acp_error, agent_manifest, event
from gpuproxy.agents.acp.runs import RunStore
from gpuproxy.agents.acp.server import AcpNotFound, cancel_run, find_run, start_run
from gpuproxy.agents.action import AgentContext
from gpuproxy.agents.actions import find_action, run_action
from gpuproxy.agents.errors import ActionInvalid
from gpuproxy.api.agents.mcp import credential_of
from gpuproxy.api.agents.sse import Emit, sse_answer
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.errors import EXCEPTION_HANDLERS
from gpuproxy.api.guards import principal_of, requires_auth
from gpuproxy.api.json_body import json_object
from gpuproxy.api.openapi_errors import error_responses
from gpuproxy.exceptions import ApiError
from gpuproxy.services import Services

ExceptionHandler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]

__all__ = ["ACP_PATH", "ACP_ROUTER", "acp_answer"]

ACP_PATH = "/api/v1/acp"
_NAME = "aiserve-gpuproxy"
_MODES = ("sync", "async", "stream")
_ACTION_ERRORS = error_responses(402, 403, 404, 409, 502, 504)


def _context(request: Request[Any, Any, Any], services: Services) -> AgentContext:
    return AgentContext(services, principal_of(request), credential_of(request))


def _store(request: Request[Any, Any, Any], services: Services) -> RunStore:
    return RunStore(services.kv, principal_of(request).user_id)


@get("/agents", summary="ACP: the agents served here (one, gpuproxy)")
async def list_agents() -> dict[str, Any]:
    return {"agents": [agent_manifest()]}


@get("/agents/{name:str}", summary="ACP: an agent's manifest")
async def read_agent(name: FromPath[str]) -> dict[str, Any]:
    if name != AGENT_NAME:
        raise AcpNotFound(f"agent {name[:100]} not found; the agent here is {AGENT_NAME}")
    return agent_manifest()


@get("/ping", summary="ACP: liveness for ACP clients")
async def ping() -> dict[str, Any]:
    return {}


def _run_request(body: dict[str, Any]) -> tuple[list[Any], str, str | None]:
    """(input messages, mode, session id) of a run request; 400/404 naming the field."""
    name = body.get("agent_name")
    if not isinstance(name, str):
        raise ActionInvalid("agent_name", f"must be the agent's name ({AGENT_NAME})")
    if name != AGENT_NAME:
        raise AcpNotFound(f"agent {name[:100]} not found; the agent here is {AGENT_NAME}")
    messages = body.get("input")
    if not isinstance(messages, list):
        raise ActionInvalid("input", "must be a list of messages")
    mode = body.get("mode", "sync")
    if mode not in _MODES:
        raise ActionInvalid("mode", f"must be one of {', '.join(_MODES)}")
    session = body.get("session_id")
    if session is None and isinstance(body.get("session"), dict):
        session = body["session"].get("id")
    if session is not None:
        try:
            session = str(uuid.UUID(str(session)))
        except ValueError:
            raise ActionInvalid("session_id", "must be a UUID") from None
    return messages, mode, session


@post(
    "/runs",
    status_code=200,
    summary="ACP: create a run (mode sync, async: 202, or stream: SSE of its events)",
    responses={
        202: ResponseSpec(data_container=dict[str, Any], description="async: the run, created"),
        **error_responses(402, 409, 502, 504),
    },
)
async def create_run(
    request: Request[Any, Any, Any], services: ServicesDep
) -> Response[Any] | Stream:
    messages, mode, session = _run_request(await json_object(request, required=True))
    ctx, store = _context(request, services), _store(request, services)
    if mode == "stream":

        async def work(emit: Emit) -> None:
            _created, outcome = await start_run(ctx, store, messages, session, emit)
            await outcome

        failure = event("error", error={"code": "server_error", "message": "internal error"})
        return sse_answer(work, lambda: failure)
    created, outcome = await start_run(ctx, store, messages, session)
    headers = {"Run-ID": created["run_id"]}
    if mode == "async":
        return Response(created, status_code=202, headers=headers)
    return Response(await outcome, headers=headers)


@get("/runs/{run_id:str}", summary="ACP: a run of the caller's")
async def read_run(
    request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]
) -> dict[str, Any]:
    run: dict[str, Any] = (await find_run(_store(request, services), run_id))["run"]
    return run


@get("/runs/{run_id:str}/events", summary="ACP: the events a run of the caller's emitted")
async def list_run_events(
    request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]
) -> dict[str, Any]:
    return {"events": (await find_run(_store(request, services), run_id))["events"]}


@post(
    "/runs/{run_id:str}/cancel",
    status_code=202,
    summary="ACP: cancel a run of the caller's (202 cancelling)",
    responses=error_responses(403, 409),
)
async def cancel(
    request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]
) -> dict[str, Any]:
    return await cancel_run(_store(request, services), run_id)


@post(
    "/runs/{run_id:str}",
    status_code=200,
    summary="ACP: resume an awaiting run (runs here never await: 403)",
    responses=error_responses(403),
)
async def resume_run(
    request: Request[Any, Any, Any], services: ServicesDep, run_id: FromPath[str]
) -> dict[str, Any]:
    await find_run(_store(request, services), run_id)
    raise _NoAwait(f"run {run_id} has no await request")


@get("/sessions/{session_id:str}", summary="ACP: sessions are not kept here (404)")
async def read_session(session_id: FromPath[str]) -> dict[str, Any]:
    # The SDK's session mode asks for the session first and, on not_found, sends it whole
    # with the run; runs then carry its id.
    raise AcpNotFound(f"session {session_id[:100]} not found: sessions are not kept here")


class _NoAwait(ApiError):
    http_status = 403
    code = "no_await_request"


async def acp_answer(
    request: Request[Any, Any, Any], services: Services, body: dict[str, Any]
) -> dict[str, Any]:
    """The seed's `{header, payload}` message (`/api/v1/acp`, `/api/v1/agent`), answered
    `{header: {sender, receiver, message_type: response, in_reply_to}, payload: {status,
    command, result}}`; errors are the REST ones."""
    header, payload = body.get("header", {}), body.get("payload")
    if not isinstance(header, dict):
        raise ActionInvalid("header", "must be an object {sender, message_type}")
    if not isinstance(payload, dict):
        raise ActionInvalid("payload", "must be an object {command, parameters}")
    command = payload.get("command", payload.get("action"))
    if not isinstance(command, str) or not command:
        raise ActionInvalid("payload.command", "must be a tool name (see /agent/discover)")
    result = await run_action(
        _context(request, services), find_action(command), payload.get("parameters")
    )
    reply: dict[str, Any] = {
        "sender": _NAME,
        "receiver": header.get("sender"),
        "message_type": "response",
    }
    if header.get("message_id") is not None:
        reply["in_reply_to"] = header["message_id"]
    if header.get("conversation_id") is not None:
        reply["conversation_id"] = header["conversation_id"]
    return {
        "header": reply,
        "payload": {"status": "success", "command": command, "result": result},
    }


@post(
    "/",
    status_code=200,
    summary="ACP, the seed's form: {header, payload: {command, parameters}}",
    responses=_ACTION_ERRORS,
)
async def seed_form(request: Request[Any, Any, Any], services: ServicesDep) -> dict[str, Any]:
    return await acp_answer(request, services, await json_object(request, required=True))


def _with_acp_fields(handler: ExceptionHandler) -> ExceptionHandler:
    """The app's error answer `handler` with ACP's `{code, message, data}` added at the top
    level."""

    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        response: Response[Any] = handler(request, exc)
        if isinstance(response.content, dict) and isinstance(response.content.get("error"), dict):
            response.content = {
                **acp_error(response.status_code or 500, response.content["error"]),
                **response.content,
            }
        return response

    return answer


ACP_ROUTER = Router(
    path=ACP_PATH,
    guards=[requires_auth],
    tags=["agents"],
    route_handlers=[
        list_agents,
        read_agent,
        ping,
        create_run,
        read_run,
        list_run_events,
        cancel,
        resume_run,
        read_session,
        seed_form,
    ],
    exception_handlers={kind: _with_acp_fields(h) for kind, h in EXCEPTION_HANDLERS.items()},
)

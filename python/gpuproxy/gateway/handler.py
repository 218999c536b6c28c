"""One OpenAI-compatible request through the gateway (the hot path, raw ASGI).

    body -> model route -> reserve the estimated cost -> admission (a backend slot)
         -> Rust forwarder (one bridge for the head) -> stream the answer back
         -> commit the actual cost, record metrics and a usage row (batched)

Every exit path settles what it took: the reservation is committed (tokens delivered)
or released (nothing delivered, upstream failed), the slot is freed by Rust when the
response ends or is dropped, and waiting requests are told a slot may be free.

A client that goes away is noticed by a watcher on `receive()` (Granian answers
`http.disconnect` as soon as the connection closes) which cancels this request's task:
the upstream request is aborted and the client is billed for what it received.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from typing import Any

from gpuproxy.accounts.principal import Principal
from gpuproxy.exceptions import ApiError, NoBackendAvailable, UpstreamError
from gpuproxy.gateway.admission import AdmissionRejected
from gpuproxy.gateway.asgi_io import Receive, Scope, Send, read_body, send_error
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.metrics import RequestSample
from gpuproxy.gateway.openai_request import Endpoint, InferenceRequest, parse_request
from gpuproxy.gateway.pools import Route, Slot
from gpuproxy.gateway.prices import ModelPrice, cost_micros
from gpuproxy.gateway.response_meter import ResponseMeter
from gpuproxy.gateway.service import Gateway

__all__ = ["authorize", "handle_inference", "principal_of_scope"]

log = logging.getLogger(__name__)

#: Requests still running after this long get a disconnect watcher (see handle_inference).
WATCH_AFTER_S = 0.05
_ids = itertools.count(1)
#: Usage row ids: a per-process random prefix and a counter (unique, no uuid4 per request).
_ID_PREFIX = secrets.token_hex(6)
_JSON_HEADERS = [(b"content-type", b"application/json"), (b"accept", b"application/json")]
_SSE_HEADERS = [(b"content-type", b"application/json"), (b"accept", b"text/event-stream")]
#: Upstream response headers not passed on (the server sets its own; length may change).
_DROP = frozenset({b"content-length", b"server", b"date", b"x-request-id"})


def principal_of_scope(scope: Scope) -> Principal:
    """The caller (set by the accounts middleware), or 401 in the OpenAI shape."""
    user = scope.get("user")
    if not isinstance(user, Principal):
        raise GatewayError(
            401,
            "Incorrect or missing API key: send Authorization: Bearer <key> or X-API-Key",
            code="invalid_api_key",
        )
    return user


def authorize(scope: Scope) -> Principal:
    principal = principal_of_scope(scope)
    if not principal.has_scope("inference"):
        raise GatewayError(403, "this API key lacks the 'inference' scope", code="missing_scope")
    return principal


def _timelimit(raw: bytes | None, default: float, cap: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value:  # also refuses NaN
        raise GatewayError(
            400, "X-Timelimit: expected a positive number of seconds", param="X-Timelimit"
        )
    return min(value, cap)


class _DisconnectWatch:
    """Waits on `receive()` for `http.disconnect` and cancels the request's task then."""

    __slots__ = ("exchange", "future", "receive", "task", "timer")

    def __init__(
        self, receive: Receive, task: asyncio.Task[Any] | None, exchange: _Exchange
    ) -> None:
        self.receive = receive
        self.task = task
        self.exchange = exchange
        self.future: asyncio.Future[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def arm(self, delay_s: float) -> None:
        """Start watching after `delay_s` (see handle_inference)."""
        self.timer = asyncio.get_running_loop().call_later(delay_s, self.start)

    def start(self) -> None:
        self.timer = None  # fired: not kept alive for the rest of a long stream
        if self.exchange.completed:
            return
        self.future = asyncio.ensure_future(self.receive())
        self.future.add_done_callback(self._done)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.future is not None:
            self.future.cancel()

    def _done(self, done: asyncio.Future[Any]) -> None:
        if done.cancelled() or self.exchange.completed or done.exception() is not None:
            return
        if done.result().get("type") == "http.disconnect":
            self.exchange.client_gone = True
            if self.task is not None:
                self.task.cancel()


class _Exchange:
    """Everything one request took or measured, for the settlement at the end."""

    __slots__ = (
        "billable",
        "client_gone",
        "completed",
        "head_sent",
        "meter",
        "price",
        "queue_s",
        "reservation",
        "route",
        "slot",
        "started",
        "status",
        "upstream_failed",
    )

    def __init__(self, started: float) -> None:
        self.started = started
        self.queue_s = 0.0
        self.route: Route | None = None
        self.slot: Slot | None = None
        self.reservation: Any = None
        self.price: ModelPrice | None = None
        self.billable = False
        self.meter: ResponseMeter | None = None
        self.status = 0
        self.completed = False
        self.head_sent = False
        self.client_gone = False
        self.upstream_failed = False


async def handle_inference(
    gateway: Gateway, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint
) -> None:
    started = time.perf_counter()
    try:
        if scope["method"] != "POST":
            raise GatewayError(405, f"use POST for {endpoint.upstream_path}")
        principal = authorize(scope)
        raw = await read_body(receive, gateway.settings.gateway_max_request_bytes)
        request = parse_request(raw, endpoint)
    except GatewayError as error:
        await send_error(send, error)
        return
    exchange = _Exchange(started)
    task = asyncio.current_task()
    watch = _DisconnectWatch(receive, task, exchange)
    # Most answers take a few milliseconds: the watcher (a task) starts only for requests
    # still running after WATCH_AFTER_S, which is when a disconnect is worth noticing.
    watch.arm(WATCH_AFTER_S)
    try:
        await _serve(gateway, scope, send, endpoint, principal, request, exchange)
    except asyncio.CancelledError:
        if not exchange.client_gone:
            raise
        # The client left: nothing to answer; cancellation stops here (ours, not the server's).
        if task is not None:
            task.uncancel()
    except GatewayError as error:
        if not exchange.head_sent:
            exchange.status = error.status
            exchange.head_sent = True
            await send_error(send, error)
    finally:
        exchange.completed = True
        watch.stop()
        _settle(gateway, principal, request, endpoint, exchange, scope)


async def _serve(
    gateway: Gateway,
    scope: Scope,
    send: Send,
    endpoint: Endpoint,
    principal: Principal,
    request: InferenceRequest,
    exchange: _Exchange,
) -> None:
    timelimit_raw: bytes | None = None
    session: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"x-timelimit":
            timelimit_raw = value
        elif name == b"x-session-id":
            session = value
    settings = gateway.settings
    timeout_s = _timelimit(
        timelimit_raw, settings.gateway_queue_timeout_s, settings.gateway_queue_max_timeout_s
    )
    user_id = principal.user_id
    route = gateway.pools.route(
        user_id, request.model, session.decode("latin-1") if session else user_id
    )
    if route is None:
        raise GatewayError(
            404,
            f"The model `{request.model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    exchange.route = route
    for entry in route.entries:  # (a loop: a generator costs ~2% of the loop under load)
        if entry.shared and entry.owner_id != user_id:
            exchange.billable = True
            break
    billing = gateway.billing
    if billing is not None:
        estimate = 0
        if exchange.billable:
            exchange.price = gateway.prices.price(request.model)
            completion = request.max_tokens or settings.gateway_default_max_tokens
            estimate = cost_micros(exchange.price, request.prompt_estimate(), completion)
        exchange.reservation = await _reserve(billing, principal, estimate)
    try:
        slot = await gateway.admission.admit(
            route.key,
            route.try_acquire,
            priority=principal.priority,
            timeout_s=timeout_s,
            user_id=user_id,
        )
    except AdmissionRejected as rejected:
        raise GatewayError(
            503,
            str(rejected),
            code="queue_timeout" if rejected.reason == "timeout" else "queue_full",
            headers=[(b"retry-after", str(rejected.retry_after_s).encode())],
        ) from None
    except NoBackendAvailable as exc:
        raise GatewayError(
            503, str(exc), code="no_healthy_worker", headers=[(b"retry-after", b"1")]
        ) from None
    exchange.slot = slot
    exchange.queue_s = time.perf_counter() - exchange.started
    if slot.entry.owner_id == user_id:
        exchange.billable = False  # own workers: the GPU's hourly price covers the tokens
    elif exchange.price is None:
        exchange.price = gateway.prices.price(request.model)
    state = scope.get("state") or {}
    client = scope.get("client")
    # Taken now (settling needs it) so the parsed body is not held for the whole answer.
    request.prompt_estimate()
    try:
        response = await gateway.forwarder.forward(
            slot.entry.pool,
            "POST",
            endpoint.upstream_path,
            _SSE_HEADERS if request.stream else _JSON_HEADERS,
            request.body,
            guard=slot.guard,
            client_ip=client[0] if client else None,
            request_id=state.get("request_id"),
        )
    except UpstreamError as exc:
        exchange.upstream_failed = True
        raise GatewayError(
            exc.http_status,
            f"the worker failed: {exc}",
            code=f"upstream_{exc.kind}",
        ) from None
    await _relay(response, send, request, exchange)


async def _reserve(billing: Any, principal: Principal, estimate: int) -> Any:
    try:
        # Synchronous when the user's quota, credit and limits are in memory (the steady
        # state); awaited only for a first request or a check that needs the KV store.
        reservation = billing.try_reserve(principal, estimate)
        if reservation is None:
            reservation = await billing.reserve(principal, estimate)
        return reservation
    except ApiError as exc:  # a billing refusal (402 credits / guard rails, 429 quota)
        headers = [(k.lower().encode(), v.encode()) for k, v in exc.headers().items()]
        raise GatewayError(
            exc.http_status,
            str(exc),
            code=exc.code,
            param=exc.param,
            headers=headers,
            top_level=exc.body_extra(),
        ) from None


async def _relay(response: Any, send: Send, request: InferenceRequest, exchange: _Exchange) -> None:
    status: int = response.status
    exchange.status = status
    headers = [(k, v) for k, v in response.headers if k not in _DROP]
    content_type = b""
    for k, v in headers:
        if k == b"content-type":
            content_type = v
            break
    sse = content_type.startswith(b"text/event-stream")
    meter = ResponseMeter(sse=sse, strip_usage=request.strip_usage and status < 400)
    exchange.meter = meter
    try:
        if not sse:
            # JSON answers: one read (usually already buffered with the head).
            body: bytes = await response.read()
            meter.feed(body)
            headers.append((b"content-length", str(len(body)).encode()))
            exchange.head_sent = True
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        exchange.head_sent = True
        await send({"type": "http.response.start", "status": status, "headers": headers})
        del headers  # sent: not held for the rest of a long stream
        async for chunk in response:
            out = meter.feed(chunk)
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
                meter.delivered(out)
        tail = meter.flush()
        await send({"type": "http.response.body", "body": tail})
        meter.delivered(tail)
    except UpstreamError as exc:
        # Mid-stream failure (worker died): the head is out, so end the stream cleanly with
        # an SSE error event the SDKs surface, and bill only what was delivered.
        exchange.upstream_failed = True
        log.warning("upstream failed mid-response: %s", exc)
        if sse:
            event = (
                b'data: {"error": {"message": "the worker failed mid-stream", '
                b'"type": "upstream_error", "param": null, "code": "upstream_'
                + exc.kind.encode()
                + b'"}}\n\n'
            )
            try:
                await send({"type": "http.response.body", "body": event})
            except Exception:
                exchange.client_gone = True
        else:
            raise GatewayError(exc.http_status, f"the worker failed: {exc}") from None
    finally:
        response.close()


def _settle(
    gateway: Gateway,
    principal: Principal,
    request: InferenceRequest,
    endpoint: Endpoint,
    exchange: _Exchange,
    scope: Scope,
) -> None:
    """Commit or release the reservation and record the request (never raises)."""
    try:
        _settle_inner(gateway, principal, request, endpoint, exchange, scope)
    except Exception:
        log.exception("settling a gateway request failed")
        if exchange.reservation is not None:
            exchange.reservation.release()
    finally:
        if exchange.slot is not None:
            gateway.admission.notify_all()


def _settle_inner(
    gateway: Gateway,
    principal: Principal,
    request: InferenceRequest,
    endpoint: Endpoint,
    exchange: _Exchange,
    scope: Scope,
) -> None:
    meter = exchange.meter
    delivered = meter is not None and exchange.status < 400
    prompt_tokens = completion_tokens = 0
    estimated = False
    if delivered and meter is not None:
        usage = meter.result(request.prompt_estimate())
        prompt_tokens, completion_tokens, estimated = (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.estimated,
        )
        if exchange.upstream_failed and usage.estimated and completion_tokens == 0:
            prompt_tokens = 0  # failed before any token: nothing was delivered
    cost = 0
    if exchange.billable and exchange.price is not None and (prompt_tokens or completion_tokens):
        cost = cost_micros(exchange.price, prompt_tokens, completion_tokens)
    reservation = exchange.reservation
    if reservation is not None:
        if cost > 0:
            reservation.commit(cost, ref=(scope.get("state") or {}).get("request_id"))
        else:
            reservation.release()
    if exchange.route is None:
        return
    now = time.perf_counter()
    latency_s = now - exchange.started
    ttft_s = None
    if meter is not None and meter.first_token_at is not None:
        ttft_s = meter.first_token_at - exchange.started
    if exchange.client_gone:
        outcome = "cancelled"
    elif exchange.slot is None:
        outcome = "rejected"  # no worker slot in time (503) or refused by billing
    elif exchange.upstream_failed or exchange.status >= 500:
        outcome = "upstream_error"
    elif exchange.status >= 400:
        outcome = "client_error"
    else:
        outcome = "ok"
    ok = outcome in ("ok", "cancelled")
    # Output speed: completion tokens over the generation time (after the first token for
    # streams, the whole request otherwise).
    generation_s = latency_s - (ttft_s or 0.0)
    tokens_per_s = (
        completion_tokens / generation_s if completion_tokens and generation_s > 0 else None
    )
    gateway.metrics.record(
        RequestSample(
            model=request.model,
            user_id=principal.user_id,
            ok=ok,
            latency_s=latency_s,
            ttft_s=ttft_s,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_micros=cost,
            tokens_per_s=tokens_per_s,
        )
    )
    slot = exchange.slot
    # A ready tuple in the INSERT's column order (usage_writer.UsageRecord documents the
    # fields): no per-request struct, the writer hands whole lists to the database.
    gateway.usage.record_row(
        (
            f"{_ID_PREFIX}{next(_ids):012x}",
            (scope.get("state") or {}).get("request_id", ""),
            int(time.time() * 1000),
            principal.user_id,
            principal.api_key_id,
            request.model,
            endpoint.name,
            slot.guard.backend_id if slot is not None else None,
            slot.entry.scope if slot is not None else "",
            int(request.stream),
            exchange.status or 499,
            outcome,
            prompt_tokens,
            completion_tokens,
            int(estimated),
            cost,
            int(exchange.queue_s * 1_000_000),
            None if ttft_s is None else int(ttft_s * 1_000_000),
            int(latency_s * 1_000_000),
            round(tokens_per_s, 3) if tokens_per_s else None,
        )
    )

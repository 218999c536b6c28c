"""Errors as gRPC statuses: the product's ApiError family (and HTTP statuses of the data
plane's answers) mapped to status codes, with the details a client can act on.

The status carries `google.rpc` details (grpc-status-details-bin, read with
`grpc_status.rpc_status.from_call`): an ErrorInfo (reason = the HTTP API's error code,
metadata `param` = the field), a BadRequest field violation when a field is named, and a
QuotaFailure listing the exceeded spend windows.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from gpuproxy.error_types import error_type
from gpuproxy.exceptions import ApiError, SpendLimitExceeded

__all__ = ["StatusError", "abort_with", "grpc_code", "status_error"]

log = logging.getLogger(__name__)

#: HTTP status -> gRPC code. 402 (spend limit, no credit) and 429 (rate limit) are both
#: quota refusals; 409 (not enough offers, offer not rentable) is a precondition.
_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    402: grpc.StatusCode.RESOURCE_EXHAUSTED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def grpc_code(http_status: int) -> grpc.StatusCode:
    if http_status in _CODES:
        return _CODES[http_status]
    if 400 <= http_status < 500:
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.INTERNAL


class StatusError(Exception):
    """A status to answer with: raised by helpers, turned into the RPC's status by `rpc`."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        param: str | None = None,
        windows: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.param = param
        self.windows = windows or []

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        details: list[any_pb2.Any] = []
        info = error_details_pb2.ErrorInfo(reason=self.reason or "error", domain="gpuproxy")
        if self.param:
            info.metadata["param"] = self.param
        if self.windows:
            info.metadata["windows"] = ",".join(self.windows)
        details.append(_pack(info))
        if self.param and self.code == grpc.StatusCode.INVALID_ARGUMENT:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field=self.param, description=self.message
            )
            details.append(_pack(error_details_pb2.BadRequest(field_violations=[violation])))
        if self.windows:
            violations = [
                error_details_pb2.QuotaFailure.Violation(
                    subject=f"spend_window:{name}", description=f"the {name} limit"
                )
                for name in self.windows
            ]
            details.append(_pack(error_details_pb2.QuotaFailure(violations=violations)))
        status = status_pb2.Status(code=self.code.value[0], message=self.message, details=details)
        metadata: tuple[tuple[str, Any], ...] = rpc_status.to_status(status).trailing_metadata
        return metadata


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_error(exc: BaseException) -> StatusError:
    """The status for an exception raised by a service; anything unexpected is INTERNAL
    with no internals in the message (logged here)."""
    if isinstance(exc, StatusError):
        return exc
    if isinstance(exc, ApiError):
        windows = list(exc.windows) if isinstance(exc, SpendLimitExceeded) else None
        # A gateway error may have no code of its own; its `type` names it then.
        reason = exc.code or error_type(exc.http_status, openai=exc.openai)
        return StatusError(
            grpc_code(exc.http_status), exc.message, reason=reason, param=exc.param,
            windows=windows,
        )  # fmt: skip
    log.error("unexpected error in a gRPC call", exc_info=exc)
    return StatusError(grpc.StatusCode.INTERNAL, "internal server error", reason="internal")


async def abort_with(context: Any, exc: BaseException) -> NoReturn:
    """End the RPC with the status for `exc` (raises grpc's abort exception)."""
    error = status_error(exc)
    await context.abort(error.code, error.message, error.trailing_metadata())
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises

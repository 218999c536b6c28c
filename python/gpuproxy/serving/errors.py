"""The one error class of model serving: an `ApiError` with the status chosen per case."""

from __future__ import annotations

from gpuproxy.exceptions import ApiError

__all__ = ["ModelError"]


class ModelError(ApiError):
    """Answered as `{"error": {"message", "type", "code", "param"}}` with `status`."""

    def __init__(
        self, status: int, message: str, *, code: str = "invalid_model", param: str | None = None
    ) -> None:
        super().__init__(message, code=code, param=param)
        self.http_status = status

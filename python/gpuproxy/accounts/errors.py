"""Domain errors of the accounts area: `ApiError`s, rendered by the app-wide handler."""

from __future__ import annotations

from gpuproxy.exceptions import ApiError

__all__ = [
    "AccountsError",
    "AuthUnavailable",
    "EmailTaken",
    "Forbidden",
    "InvalidCredentials",
    "InvalidInput",
    "InvalidToken",
    "LoginThrottled",
    "NotFound",
]


class AccountsError(ApiError):
    http_status = 400
    code = "invalid_request"

    def headers(self) -> dict[str, str]:
        # A store outage is short-lived: tell clients to retry soon rather than give up.
        return {"Retry-After": "1"} if self.http_status == 503 else {}


class InvalidInput(AccountsError):
    """A field of the request is not acceptable; `field` names it."""

    code = "invalid_value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", param=field)
        self.field = field


class EmailTaken(AccountsError):
    http_status = 409
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("an account with this email already exists")


class InvalidCredentials(AccountsError):
    """Wrong email or password; deliberately the same message for both."""

    http_status = 401
    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("invalid email or password")


class InvalidToken(AccountsError):
    http_status = 401
    code = "invalid_token"


class LoginThrottled(AccountsError):
    http_status = 429
    code = "login_throttled"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many failed logins; try again later")
        self.retry_after_s = max(1, retry_after_s)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class NotFound(AccountsError):
    http_status = 404
    code = "not_found"


class Forbidden(AccountsError):
    http_status = 403
    code = "forbidden"


class AuthUnavailable(AccountsError):
    """The session store cannot be reached, so a token cannot be checked (fail closed)."""

    http_status = 503
    code = "auth_unavailable"

"""Structured logging: JSON lines (or human lines in developer mode) to stderr, a file, syslog.

Every line logged while a request is handled carries its request id (a contextvar set by
the request-id middleware). A redaction filter masks secrets that slip into messages.
"""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import os
import re
import socket
import sys
import time
from typing import Any

import msgspec

from gpuproxy.config import Settings

__all__ = ["REQUEST_ID", "configure_logging", "redact"]

#: The id of the request being handled in this context ("" outside requests).
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Things that look like credentials: bearer tokens, our API keys, Stripe keys, JWTs,
# card numbers, and key=value pairs whose key says secret/password/token/key.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bgpx_[A-Za-z0-9_-]{8,}"),
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"\b(?:\d[ -]?){13,19}\b"),
    re.compile(
        r"(?i)((?:password|passwd|secret|token|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\s\"',}]+"
    ),
)


def redact(text: str) -> str:
    """Mask anything that looks like a secret in `text`."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[REDACTED]", text)
        else:
            text = pattern.sub("[REDACTED]", text)
    return text


class _ContextFilter(logging.Filter):
    """Adds the request id and masks secrets in the final message, on every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, extras, exception."""

    _encoder = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return self._encoder.encode(entry).decode()


class HumanFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")


def _syslog_handler(settings: Settings) -> logging.Handler:
    facility = getattr(logging.handlers.SysLogHandler, settings.syslog_facility)
    network, address = settings.syslog_network, settings.syslog_address
    if network in {"tcp", "udp"}:
        host, _, port = (address or "127.0.0.1:514").rpartition(":")
        kind = socket.SOCK_STREAM if network == "tcp" else socket.SOCK_DGRAM
        return logging.handlers.SysLogHandler(
            address=(host or "127.0.0.1", int(port or 514)), facility=facility, socktype=kind
        )
    path = address or next(
        (p for p in ("/dev/log", "/var/run/syslog", "/var/run/log") if os.path.exists(p)), ""
    )
    if not path:
        raise OSError("SYSLOG_ENABLED but no SYSLOG_ADDRESS given and no local /dev/log socket")
    return logging.handlers.SysLogHandler(address=path, facility=facility)


def configure_logging(settings: Settings, *, developer_mode: bool = False) -> None:
    """Install the root handlers once per process (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_gpuproxy", False):
            root.removeHandler(handler)
            handler.close()
    formatter: logging.Formatter = HumanFormatter() if developer_mode else JsonFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if settings.log_file:
        handlers.append(logging.FileHandler(settings.log_file, encoding="utf-8"))
    if settings.syslog_enabled:
        handlers.append(_syslog_handler(settings))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(_ContextFilter())
        handler._gpuproxy = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Access logs and library chatter stay at warning unless debugging.
    if settings.log_level != "debug":
        for noisy in ("httpx", "httpcore", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

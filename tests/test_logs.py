from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpuproxy.config import Settings
from gpuproxy.logs import REQUEST_ID, configure_logging, redact


@pytest.fixture(autouse=True)
def _restore_logging(make_settings: Callable[..., Settings]) -> Iterator[None]:
    yield
    configure_logging(make_settings())


SECRETS = [
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTYifQ.c2lnbmF0dXJlLXh5eg",
    "key gpx_live_ab12cd34_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
    "stripe sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "card 4242 4242 4242 4242",
    'password="hunter2-very-secret"',
    "api_key=abcdef0123456789",
]


@pytest.mark.parametrize("text", SECRETS)
def test_redact_masks_secrets(text: str) -> None:
    masked = redact(text)
    assert "[REDACTED]" in masked
    for fragment in (
        "eyJzdWIiOiIxMjM0NTYifQ",
        "Zm9vYmFy",
        "4eC39Hq",
        "4242 4242",
        "hunter2",
        "abcdef01",
    ):
        assert fragment not in masked


def test_json_lines_to_file_carry_request_id_and_no_secret(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    log_file = tmp_path / "gpuproxy.log"
    settings = make_settings(LOG_FILE=str(log_file))
    configure_logging(settings)
    token = REQUEST_ID.set("req-123")
    try:
        logging.getLogger("gpuproxy.test").info("login with %s", SECRETS[0], extra={"user": "u1"})
    finally:
        REQUEST_ID.reset(token)
        for handler in logging.getLogger().handlers:
            handler.flush()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    entry = next(e for e in lines if e["logger"] == "gpuproxy.test")
    assert entry["request_id"] == "req-123"
    assert entry["level"] == "info"
    assert entry["user"] == "u1"
    assert "eyJzdWIi" not in entry["msg"]
    assert "[REDACTED]" in entry["msg"]


def test_syslog_udp_receives_lines(make_settings: Callable[..., Settings]) -> None:
    import socket

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    try:
        settings = make_settings(
            SYSLOG_ENABLED="true", SYSLOG_NETWORK="udp", SYSLOG_ADDRESS=f"127.0.0.1:{port}"
        )
        configure_logging(settings)
        logging.getLogger("gpuproxy.test").warning("to syslog token=abc123secretvalue")
        data = receiver.recv(65536).decode()
    finally:
        receiver.close()
    assert data.startswith("<")  # syslog priority prefix
    assert "to syslog" in data
    assert "abc123secretvalue" not in data

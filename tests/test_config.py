from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gpuproxy.config import GUARDRAIL_WINDOWS_MINUTES, guardrail_env_name, load_settings
from gpuproxy.exceptions import ConfigError

STRONG = "k3Jd9-a8Qz1_Vx7pLm2Rt6Yw4Hn0Bc5E"


def test_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    settings = load_settings(env={"DATA_DIR": str(tmp_path)}, env_file=None)
    assert (settings.host, settings.port, settings.grpc_port) == ("127.0.0.1", 8080, 0)
    assert settings.db_type == "sqlite"
    assert settings.sqlite_path == tmp_path / "gpuproxy.db"
    assert settings.redis_url == ""
    assert settings.lb_strategy == "p2c_ewma"


def test_env_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        '# comment\nPORT=9000\nexport HOST="0.0.0.0"\nLOG_LEVEL=debug # trailing\n'
        "DB_PASSWORD=   # empty, only a comment\n"
    )
    settings = load_settings(env={"PORT": "9100", "DATA_DIR": str(tmp_path)}, env_file=env_file)
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"
    assert settings.log_level == "debug"
    assert settings.db_password == ""


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "eighty", "PORT='eighty' is invalid: expected an integer from 0 to 65535"),
        ("PORT", "70000", "PORT='70000'"),
        ("DB_TYPE", "mysql", "DB_TYPE='mysql' is invalid: expected one of sqlite, postgres"),
        ("SESSION_MODE", "cookie", "expected one of sql, redis, balanced"),
        ("LB_STRATEGY", "random", "LB_STRATEGY='random' is invalid: expected one of round_robin"),
        ("GUARDRAILS_ENABLED", "maybe", "GUARDRAILS_ENABLED='maybe' is invalid"),
        ("GUARDRAILS_MAX_60MIN_RATE", "lots", "GUARDRAILS_MAX_60MIN_RATE='lots' is invalid"),
        ("GUARDRAILS_MAX_61MIN_RATE", "5", "GUARDRAILS_MAX_61MIN_RATE is not a guard-rail window"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379' is invalid"),
        ("SYSLOG_FACILITY", "LOG_NOPE", "SYSLOG_FACILITY='LOG_NOPE' is invalid"),
        # A private key (or a file path) must never be sent to io.net as the VMs' key.
        ("IONET_SSH_PUBLIC_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----", "IONET_SSH_PUBLIC_KEY"),
        ("IONET_SSH_PUBLIC_KEY", "~/.ssh/id_ed25519.pub", "IONET_SSH_PUBLIC_KEY is invalid"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={name: value, "DATA_DIR": str(tmp_path)}, env_file=None)
    assert expected in str(info.value)


def test_guardrail_limits_are_micro_dollars(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "GUARDRAILS_MAX_60MIN_RATE": "100.00",
        "GUARDRAILS_MAX_72H_RATE": "2500.5",
    }
    settings = load_settings(env=env, env_file=None)
    assert settings.guardrail_limits == {60: 100_000_000, 4320: 2_500_500_000}


def test_all_seventeen_windows_have_seed_names() -> None:
    names = [guardrail_env_name(m) for m in GUARDRAIL_WINDOWS_MINUTES]
    assert len(set(names)) == 17
    assert names[0] == "GUARDRAILS_MAX_5MIN_RATE"
    assert "GUARDRAILS_MAX_1440MIN_RATE" in names
    assert names[-2:] == ["GUARDRAILS_MAX_48H_RATE", "GUARDRAILS_MAX_72H_RATE"]


def test_redis_url_from_host_and_port(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "REDIS_HOST": "cache", "REDIS_PORT": "6380"}
    assert load_settings(env=env, env_file=None).redis_url == "redis://cache:6380/0"


def test_embedded_jwt_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_settings(env={"DATA_DIR": str(tmp_path)}, env_file=None).jwt_secret
    second = load_settings(env={"DATA_DIR": str(tmp_path)}, env_file=None).jwt_secret
    assert first == second
    assert len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "jwt_secret").st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("secret", ["", "changeme", "short-secret", "a" * 40])
def test_postgres_refuses_missing_or_weak_jwt_secret(tmp_path: Path, secret: str) -> None:
    env = {"DATA_DIR": str(tmp_path), "DB_TYPE": "postgres", "JWT_SECRET": secret}
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_settings(env=env, env_file=None)


def test_postgres_accepts_strong_secret_and_builds_dsn(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "DB_TYPE": "postgres",
        "JWT_SECRET": STRONG,
        "DB_USER": "app",
        "DB_PASSWORD": "p@ss word",
        "DB_NAME": "gpuproxy",
    }
    settings = load_settings(env=env, env_file=None)
    assert settings.postgres_dsn == "postgresql://app:p%40ss%20word@localhost:5432/gpuproxy"


def test_malformed_env_file_line_is_reported(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT 8080\n")
    with pytest.raises(ConfigError, match=r"\.env:1: expected KEY=VALUE"):
        load_settings(env={"DATA_DIR": str(tmp_path)}, env_file=env_file)


def test_env_example_is_a_valid_env_file(tmp_path: Path) -> None:
    """Copying proxy/.env.example to .env as it is must start the embedded default."""
    example = Path(__file__).resolve().parent.parent / "proxy" / ".env.example"
    settings = load_settings(env={"DATA_DIR": str(tmp_path)}, env_file=example)
    assert settings.db_type == "sqlite"
    assert settings.db_password == ""
    assert not settings.jwt_secret.startswith("#")

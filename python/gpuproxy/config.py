"""Typed settings from environment variables and an optional `.env` file (env wins).

`load_settings()` validates everything at start; a bad value raises `ConfigError` naming
the variable and the accepted values. Variable names follow the product seeds.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypedDict, TypeVar

import msgspec

from gpuproxy._core import DEFAULT_STRATEGY, SPEND_WINDOW_MINUTES, STRATEGIES
from gpuproxy.exceptions import ConfigError
from gpuproxy.money import dollars_to_micros
from gpuproxy.serving.settings import ServingSettings, read_serving_settings

__all__ = [
    "GUARDRAIL_WINDOWS_MINUTES",
    "Settings",
    "guardrail_env_name",
    "load_settings",
    "read_env_file",
]

DbType = Literal["sqlite", "postgres"]
SessionMode = Literal["sql", "redis", "balanced"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
SyslogNetwork = Literal["tcp", "udp", "unix", ""]
JwtAlgorithm = Literal["HS256", "RS256", "EdDSA"]


#: The 17 guard-rail windows of the seeds, in minutes (5 min .. 72 h), shortest first. The
#: Rust core owns the list (`_core.SPEND_WINDOW_MINUTES`, the lengths of `SPEND_WINDOWS`).
GUARDRAIL_WINDOWS_MINUTES: tuple[int, ...] = SPEND_WINDOW_MINUTES


_WEAK_SECRETS = frozenset(
    {"changeme", "secret", "password", "your-secure-random-string", "jwt-secret", "test"}
)
_MIN_JWT_SECRET_LEN = 32


def guardrail_env_name(minutes: int) -> str:
    """The seed's variable name for a window: 60 -> GUARDRAILS_MAX_60MIN_RATE, 2880 -> ..._48H_."""
    label = f"{minutes // 60}H" if minutes > 1440 else f"{minutes}MIN"
    return f"GUARDRAILS_MAX_{label}_RATE"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """Every setting of the server; field docs name the environment variable."""

    host: str = "127.0.0.1"  # HOST
    port: int = 8080  # PORT
    grpc_port: int = 0  # GRPC_PORT (0: no gRPC server; the seed's examples use 9090)
    grpc_tls_cert: str = ""  # GRPC_TLS_CERT
    grpc_tls_key: str = ""  # GRPC_TLS_KEY
    grpc_tls_client_ca: str = ""  # GRPC_TLS_CLIENT_CA (set: clients must present a cert)
    data_dir: Path = Path("data")  # DATA_DIR
    db_type: DbType = "sqlite"  # DB_TYPE
    db_name: str = "gpuproxy.db"  # DB_NAME (file name under DATA_DIR for sqlite)
    db_host: str = "localhost"  # DB_HOST
    db_port: int = 5432  # DB_PORT
    db_user: str = "postgres"  # DB_USER
    db_password: str = ""  # DB_PASSWORD
    db_max_conns: int = 20  # DB_MAX_CONNS
    db_use_pgbouncer: bool = False  # DB_USE_PGBOUNCER
    redis_url: str = ""  # REDIS_URL, or built from REDIS_HOST/REDIS_PORT
    session_mode: SessionMode = "sql"  # SESSION_MODE
    jwt_secret: str = ""  # JWT_SECRET (generated into DATA_DIR for the embedded default)
    jwt_algorithm: JwtAlgorithm = "HS256"  # JWT_ALGORITHM (HS256 | RS256 | EdDSA)
    jwt_private_key_file: str = ""  # JWT_PRIVATE_KEY_FILE (PEM; required for RS256/EdDSA)
    jwt_ttl_seconds: int = 86_400  # JWT_TTL_SECONDS (access-token lifetime)
    refresh_ttl_seconds: int = 30 * 86_400  # REFRESH_TOKEN_TTL_SECONDS (session lifetime)
    bcrypt_rounds: int = 12  # BCRYPT_ROUNDS (4..31; tests lower it)
    rate_limit_per_minute: int = 600  # RATE_LIMIT_PER_MINUTE (per user; 0 = unlimited)
    auth_cache_ttl_seconds: float = 1.0  # AUTH_CACHE_TTL_SECONDS (default 30 with Redis)
    login_max_failures: int = 5  # LOGIN_MAX_FAILURES (per account per lockout window)
    login_max_failures_per_ip: int = 50  # LOGIN_MAX_FAILURES_PER_IP
    login_lockout_seconds: int = 900  # LOGIN_LOCKOUT_SECONDS
    bootstrap_admin: bool = True  # BOOTSTRAP_ADMIN (first start: create admin@gpucloud.local)
    log_level: LogLevel = "info"  # LOG_LEVEL
    log_file: str = ""  # LOG_FILE or AISERVE_LOG_FILE
    syslog_enabled: bool = False  # SYSLOG_ENABLED
    syslog_network: SyslogNetwork = ""  # SYSLOG_NETWORK ("" = local /dev/log auto-detect)
    syslog_address: str = ""  # SYSLOG_ADDRESS
    syslog_facility: str = "LOG_LOCAL0"  # SYSLOG_FACILITY
    lb_strategy: str = "p2c_ewma"  # LB_STRATEGY
    lb_enabled: bool = True  # LB_ENABLED
    guardrails_enabled: bool = True  # GUARDRAILS_ENABLED
    #: window minutes -> limit in micro-dollars (GUARDRAILS_MAX_<WINDOW>_RATE, in dollars)
    guardrail_limits: dict[int, int] = msgspec.field(default_factory=dict)
    vastai_api_key: str = ""  # VASTAI_API_KEY
    vastai_url: str = "https://console.vast.ai"  # VASTAI_URL
    #: VASTAI_PACING_SCALE: multiplies vast.ai's published per-endpoint call intervals that
    #: the client keeps to (1 = as published; 0 = no client-side pacing, e.g. against a fake).
    vastai_pacing_scale: float = 1.0
    ionet_api_key: str = ""  # IONET_API_KEY
    ionet_url: str = "https://api.io.solutions"  # IONET_URL
    #: OpenSSH public key installed on io.net VMs (their deploy requires one); without it
    #: only io.net containers (a rent naming an image) can be rented.
    ionet_ssh_public_key: str = ""  # IONET_SSH_PUBLIC_KEY
    stripe_secret_key: str = ""  # STRIPE_SECRET_KEY
    stripe_webhook_secret: str = ""  # STRIPE_WEBHOOK_SECRET
    stripe_api_base: str = ""  # STRIPE_API_BASE (tests point it at a fake)
    afterdark_api_key: str = ""  # AFTERDARK_API_KEY
    afterdark_api_url: str = ""  # AFTERDARK_API_URL
    crypto_enabled: bool = False  # CRYPTO_ENABLED
    crypto_rpc_url: str = ""  # CRYPTO_RPC_URL
    crypto_receiving_address: str = ""  # CRYPTO_RECEIVING_ADDRESS
    crypto_network: str = "ethereum"  # CRYPTO_NETWORK (the chain CRYPTO_RPC_URL serves)
    crypto_token_address: str = ""  # CRYPTO_TOKEN_ADDRESS (ERC-20 stablecoin paid in)
    crypto_token_decimals: int = 6  # CRYPTO_TOKEN_DECIMALS (USDC/USDT: 6)
    crypto_confirmations: int = 12  # CRYPTO_CONFIRMATIONS (blocks before crediting)
    afterdark_webhook_secret: str = ""  # AFTERDARK_WEBHOOK_SECRET (default AFTERDARK_API_KEY)
    public_url: str = ""  # PUBLIC_URL (checkout return and callback URLs; default host:port)
    credits_enforced: bool = True  # CREDITS_ENFORCED (refuse with 402 past credits_cap)
    #: credit every new self-registered account starts with (NEW_USER_CREDIT_USD, dollars)
    new_user_credit: int = 0
    credits_default_cap: int = 0  # CREDITS_DEFAULT_CAP (dollars of overage; micro-dollars)
    billing_flush_interval_ms: int = 250  # BILLING_FLUSH_INTERVAL_MS (batched ledger writes)
    gpu_accrual_interval_seconds: int = 60  # GPU_ACCRUAL_INTERVAL_SECONDS
    local_fleet_enabled: bool = True  # LOCAL_FLEET_ENABLED
    gpu_poll_interval_seconds: float = 30.0  # GPU_POLL_INTERVAL_SECONDS (availability poller)
    gpu_offer_cache_seconds: float = 10.0  # GPU_OFFER_CACHE_SECONDS (offer listing cache)
    gpu_start_timeout_seconds: float = 900.0  # GPU_START_TIMEOUT_SECONDS (then destroyed)
    #: GPU_ORPHAN_REAP_INTERVAL_SECONDS: how often marketplace instances that carry our mark
    #: but have no live rental record are destroyed (0 = never).
    gpu_orphan_reap_interval_seconds: float = 600.0
    #: GPU_ORPHAN_GRACE_SECONDS: an orphan is destroyed only once it is at least this old.
    gpu_orphan_grace_seconds: float = 900.0
    # --- inference gateway (gpuproxy.gateway) ---
    gateway_worker_max_concurrency: int = 64  # GATEWAY_WORKER_MAX_CONCURRENCY (0 = unlimited)
    gateway_queue_max_depth: int = 1000  # GATEWAY_QUEUE_MAX_DEPTH (waiters per model route)
    gateway_queue_timeout_s: float = 30.0  # GATEWAY_QUEUE_TIMEOUT_SECONDS (default wait)
    gateway_queue_max_timeout_s: float = 600.0  # GATEWAY_QUEUE_MAX_TIMEOUT_SECONDS (cap)
    gateway_default_max_tokens: int = 1024  # GATEWAY_DEFAULT_MAX_TOKENS (reservation estimate)
    #: micro-dollars per million tokens (GATEWAY_DEFAULT_INPUT_PRICE / _OUTPUT_PRICE, dollars)
    gateway_default_input_price: int = 0
    gateway_default_output_price: int = 0
    gateway_upstreams: str = ""  # GATEWAY_UPSTREAMS: model=url,... (static shared workers)
    gateway_proxy_allowlist: tuple[str, ...] = ()  # GATEWAY_PROXY_ALLOWLIST: hosts, *.x, CIDRs
    #: CIDRs where a worker without an instance (operator-run) may register; public otherwise
    worker_allowed_networks: tuple[str, ...] = ()  # WORKER_ALLOWED_NETWORKS
    gateway_connect_timeout_s: float = 5.0  # GATEWAY_CONNECT_TIMEOUT_SECONDS
    gateway_first_byte_timeout_s: float = 300.0  # GATEWAY_FIRST_BYTE_TIMEOUT_SECONDS
    #: a whole exchange, request to last byte (a worker trickling bytes forever is cut)
    gateway_total_timeout_s: float = 3600.0  # GATEWAY_TOTAL_TIMEOUT_SECONDS
    #: PEM trust anchors for https workers besides Mozilla's (GATEWAY_UPSTREAM_CA_FILE, read
    #: at start; "" = Mozilla's roots only)
    gateway_upstream_ca_pem: str = ""
    gateway_max_request_bytes: int = 16 * 1024 * 1024  # GATEWAY_MAX_REQUEST_BYTES
    #: largest answer /api/v1/gpu/proxy buffers without `stream: true` (then 502)
    gateway_proxy_max_response_bytes: int = 16 * 1024 * 1024  # GATEWAY_PROXY_MAX_RESPONSE_BYTES
    gateway_usage_batch_size: int = 500  # GATEWAY_USAGE_BATCH_SIZE
    gateway_usage_flush_ms: int = 500  # GATEWAY_USAGE_FLUSH_MS
    # --- the Rust data plane (gpuproxy.gateway.data_plane) ---
    #: spend reserved at once for a user's requests in one process (micro-dollars, USD)
    gateway_allowance_micros: int = 1_000_000  # GATEWAY_ALLOWANCE_MICROS
    gateway_allowance_ttl_ms: int = 2000  # GATEWAY_ALLOWANCE_TTL_MS (then re-checked)
    #: between two chunks of an answer (data plane and /api/v1/gpu/proxy)
    gateway_stall_timeout_s: float = 120.0  # GATEWAY_STALL_TIMEOUT_SECONDS
    gateway_data_plane_threads: int = 1  # GATEWAY_DATA_PLANE_THREADS (tokio workers)
    gateway_usage_ring: int = 65_536  # GATEWAY_USAGE_RING (settlements buffered for Python)
    #: nice value of the control plane's threads next to the data plane (0 = unchanged)
    gateway_control_plane_nice: int = 10  # GATEWAY_CONTROL_PLANE_NICE
    #: OpenTelemetry spans of inference requests over OTLP/HTTP (OTEL_* variables)
    gateway_otel_traces: bool = False  # GATEWAY_OTEL_TRACES
    #: model serving's MODELS_* variables (gpuproxy.serving.settings)
    serving: ServingSettings = msgspec.field(default_factory=ServingSettings)

    @property
    def sqlite_path(self) -> Path:
        name = Path(self.db_name)
        return name if name.is_absolute() else self.data_dir / name

    @property
    def postgres_dsn(self) -> str:
        from urllib.parse import quote

        auth = quote(self.db_user, safe="")
        if self.db_password:
            auth += ":" + quote(self.db_password, safe="")
        return f"postgresql://{auth}@{self.db_host}:{self.db_port}/{quote(self.db_name, safe='')}"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes, `export ` prefix."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif value.startswith("#"):  # `KEY=   # comment`: an empty value with a comment
            value = ""
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


T = TypeVar("T")


class _Reader:
    """Typed access to the merged variables; every error names the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or value == "" else value

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def parse(self, name: str, default: T, parser: Callable[[str], T], accepted: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parser(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{name}={value!r} is invalid: expected {accepted}") from exc

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def parse(value: str) -> int:
            number = int(value)
            if not low <= number <= high:
                raise ValueError(value)
            return number

        return self.parse(name, default, parse, f"an integer from {low} to {high}")

    def boolean(self, name: str, default: bool) -> bool:
        def parse(value: str) -> bool:
            lowered = value.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)

        return self.parse(name, default, parse, "one of true, false, 1, 0, yes, no, on, off")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def parse(value: str) -> str:
            lowered = value.lower()
            if lowered not in choices:
                raise ValueError(value)
            return lowered

        return self.parse(name, default, parse, "one of " + ", ".join(c or '""' for c in choices))


def _pacing_scale(value: str) -> float:
    scale = float(value)
    if not 0.0 <= scale <= 100.0:  # also refuses nan and inf
        raise ValueError(value)
    return scale


def _redis_url(reader: _Reader) -> str:
    url = reader.raw("REDIS_URL")
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"REDIS_URL={url!r} is invalid: expected a redis://, rediss:// or unix:// URL"
            )
        return url
    host = reader.raw("REDIS_HOST")
    if not host:
        return ""
    port = reader.integer("REDIS_PORT", 6379, 1, 65535)
    return f"redis://{host}:{port}/0"


def _guardrail_limits(reader: _Reader) -> dict[int, int]:
    limits: dict[int, int] = {}
    for minutes in GUARDRAIL_WINDOWS_MINUTES:
        name = guardrail_env_name(minutes)
        value = reader.raw(name)
        if value is None:
            continue
        try:
            micros = dollars_to_micros(value)
        except ValueError as exc:
            raise ConfigError(
                f"{name}={value!r} is invalid: expected a dollar amount such as 100.00"
            ) from exc
        if micros <= 0:
            raise ConfigError(f"{name}={value!r} is invalid: expected a positive dollar amount")
        limits[minutes] = micros
    known = {guardrail_env_name(m) for m in GUARDRAIL_WINDOWS_MINUTES}
    for name in reader.env:
        if name.startswith("GUARDRAILS_MAX_") and name.endswith("_RATE") and name not in known:
            windows = ", ".join(sorted(known, key=lambda n: len(n)))
            raise ConfigError(f"{name} is not a guard-rail window: expected one of {windows}")
    return limits


def _seconds(reader: _Reader, name: str, default: float, low: float, high: float) -> float:
    def parse(value: str) -> float:
        number = float(value)
        if not low <= number <= high:
            raise ValueError(value)
        return number

    return reader.parse(name, default, parse, f"seconds from {low:g} to {high:g}")


def _pem_file(reader: _Reader, name: str) -> str:
    """The text of a PEM file named by `name` ("" when unset); read once, at start."""
    path = reader.raw(name)
    if path is None:
        return ""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}={path!r} cannot be read: {exc}") from exc
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"{name}={path!r} holds no PEM certificate")
    return text


def _dollars(reader: _Reader, name: str) -> int:
    """A non-negative dollar amount ("25.00") as micro-dollars; unset = 0."""

    def parse(value: str) -> int:
        micros = dollars_to_micros(value)
        if micros < 0:
            raise ValueError(value)
        return micros

    return reader.parse(name, 0, parse, "a non-negative dollar amount such as 25.00")


def _jwt_secret(reader: _Reader, db_type: str, data_dir: Path, algorithm: str = "HS256") -> str:
    secret = reader.raw("JWT_SECRET") or ""
    if algorithm != "HS256" and not secret:
        return ""  # asymmetric keys sign the tokens; no shared secret needed
    if db_type == "postgres" or secret:
        if not secret:
            raise ConfigError("JWT_SECRET is required when DB_TYPE=postgres (32+ characters)")
        if len(secret) < _MIN_JWT_SECRET_LEN or secret.lower() in _WEAK_SECRETS:
            raise ConfigError(
                "JWT_SECRET is too weak: expected at least 32 characters that are not a "
                "placeholder (generate one with `openssl rand -hex 32`)"
            )
        if len(set(secret)) < 8:
            raise ConfigError("JWT_SECRET is too weak: it repeats too few distinct characters")
        return secret
    return _embedded_jwt_secret(data_dir)


def _embedded_jwt_secret(data_dir: Path) -> str:
    """Generate the embedded default's secret once and keep it in DATA_DIR (mode 0600)."""
    path = data_dir / "jwt_secret"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    logging.getLogger(__name__).warning(
        "JWT_SECRET not set: generated one into %s (mode 0600); set JWT_SECRET in production",
        path,
    )
    return secret


def _jwt_algorithm(reader: _Reader) -> str:
    names = {"hs256": "HS256", "rs256": "RS256", "eddsa": "EdDSA"}
    chosen = reader.choice("JWT_ALGORITHM", "hs256", tuple(names))
    return names[chosen]


def _jwt_private_key_file(reader: _Reader, algorithm: str) -> str:
    path = reader.text("JWT_PRIVATE_KEY_FILE", "")
    if algorithm == "HS256":
        return path
    if not path or not Path(path).is_file():
        raise ConfigError(
            f"JWT_PRIVATE_KEY_FILE={path!r} is invalid: JWT_ALGORITHM={algorithm} needs a "
            "readable PEM private key file"
        )
    return path


def _auth_cache_ttl(reader: _Reader, redis_url: str) -> float:
    """How long a verified key or session stays trusted without a store check.

    With Redis, pub/sub invalidation reaches every worker within a second, so the TTL is a
    safety net (30 s); without Redis only this process hears invalidations, so 1 s bounds
    revocation for any other worker.
    """

    def parse(value: str) -> float:
        number = float(value)
        if not 0.05 <= number <= 3600:
            raise ValueError(value)
        return number

    default = 30.0 if redis_url else 1.0
    return reader.parse("AUTH_CACHE_TTL_SECONDS", default, parse, "seconds from 0.05 to 3600")


def load_settings(
    env: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Build Settings from `.env` (if present) overlaid by the environment (env wins)."""
    merged: dict[str, str] = {}
    if env_file is not None:
        merged.update(read_env_file(env_file))
    merged.update(os.environ if env is None else env)
    r = _Reader(merged)

    data_dir = Path(r.text("DATA_DIR", "data"))
    db_type = r.choice("DB_TYPE", "sqlite", ("sqlite", "postgres"))
    lb_strategy = r.choice("LB_STRATEGY", DEFAULT_STRATEGY, STRATEGIES)
    db_name_default = "gpuproxy.db" if db_type == "sqlite" else "gpuproxy"
    syslog_network = r.choice("SYSLOG_NETWORK", "", ("tcp", "udp", "unix", ""))
    redis_url = _redis_url(r)
    jwt_algorithm = _jwt_algorithm(r)
    return Settings(
        host=r.text("HOST", "127.0.0.1"),
        port=r.integer("PORT", 8080, 0, 65535),
        grpc_port=r.integer("GRPC_PORT", 0, 0, 65535),
        grpc_tls_cert=r.text("GRPC_TLS_CERT", ""),
        grpc_tls_key=r.text("GRPC_TLS_KEY", ""),
        grpc_tls_client_ca=r.text("GRPC_TLS_CLIENT_CA", ""),
        data_dir=data_dir,
        db_type=db_type,  # type: ignore[arg-type]
        db_name=r.text("DB_NAME", db_name_default),
        db_host=r.text("DB_HOST", "localhost"),
        db_port=r.integer("DB_PORT", 5432, 1, 65535),
        db_user=r.text("DB_USER", "postgres"),
        db_password=r.text("DB_PASSWORD", ""),
        db_max_conns=r.integer("DB_MAX_CONNS", 20, 1, 10_000),
        db_use_pgbouncer=r.boolean("DB_USE_PGBOUNCER", False),
        redis_url=redis_url,
        session_mode=r.choice("SESSION_MODE", "sql", ("sql", "redis", "balanced")),  # type: ignore[arg-type]
        jwt_secret=_jwt_secret(r, db_type, data_dir, jwt_algorithm),
        jwt_algorithm=jwt_algorithm,  # type: ignore[arg-type]
        jwt_private_key_file=_jwt_private_key_file(r, jwt_algorithm),
        jwt_ttl_seconds=r.integer("JWT_TTL_SECONDS", 86_400, 60, 30 * 86_400),
        refresh_ttl_seconds=r.integer("REFRESH_TOKEN_TTL_SECONDS", 30 * 86_400, 300, 365 * 86_400),
        bcrypt_rounds=r.integer("BCRYPT_ROUNDS", 12, 4, 31),
        rate_limit_per_minute=r.integer("RATE_LIMIT_PER_MINUTE", 600, 0, 10_000_000),
        auth_cache_ttl_seconds=_auth_cache_ttl(r, redis_url),
        login_max_failures=r.integer("LOGIN_MAX_FAILURES", 5, 1, 1_000_000),
        login_max_failures_per_ip=r.integer("LOGIN_MAX_FAILURES_PER_IP", 50, 1, 1_000_000),
        login_lockout_seconds=r.integer("LOGIN_LOCKOUT_SECONDS", 900, 1, 86_400),
        bootstrap_admin=r.boolean("BOOTSTRAP_ADMIN", True),
        log_level=r.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")),  # type: ignore[arg-type]
        log_file=r.text("LOG_FILE", r.text("AISERVE_LOG_FILE", "")),
        syslog_enabled=r.boolean("SYSLOG_ENABLED", False),
        syslog_network=syslog_network,  # type: ignore[arg-type]
        syslog_address=r.text("SYSLOG_ADDRESS", ""),
        syslog_facility=_syslog_facility(r),
        lb_strategy=lb_strategy,
        lb_enabled=r.boolean("LB_ENABLED", True),
        guardrails_enabled=r.boolean("GUARDRAILS_ENABLED", True),
        guardrail_limits=_guardrail_limits(r),
        vastai_api_key=r.text("VASTAI_API_KEY", ""),
        vastai_url=r.text("VASTAI_URL", "https://console.vast.ai").rstrip("/"),
        vastai_pacing_scale=r.parse(
            "VASTAI_PACING_SCALE", 1.0, _pacing_scale, "a number from 0 to 100"
        ),
        ionet_api_key=r.text("IONET_API_KEY", ""),
        ionet_url=r.text("IONET_URL", "https://api.io.solutions").rstrip("/"),
        ionet_ssh_public_key=_ssh_public_key(r.text("IONET_SSH_PUBLIC_KEY", "").strip()),
        stripe_secret_key=r.text("STRIPE_SECRET_KEY", ""),
        stripe_webhook_secret=r.text("STRIPE_WEBHOOK_SECRET", ""),
        stripe_api_base=r.text("STRIPE_API_BASE", "").rstrip("/"),
        afterdark_api_key=r.text("AFTERDARK_API_KEY", ""),
        afterdark_api_url=r.text("AFTERDARK_API_URL", "").rstrip("/"),
        crypto_enabled=r.boolean("CRYPTO_ENABLED", False),
        crypto_rpc_url=r.text("CRYPTO_RPC_URL", ""),
        crypto_receiving_address=r.text("CRYPTO_RECEIVING_ADDRESS", ""),
        crypto_network=r.text("CRYPTO_NETWORK", "ethereum").lower(),
        crypto_token_address=r.text("CRYPTO_TOKEN_ADDRESS", ""),
        crypto_token_decimals=r.integer("CRYPTO_TOKEN_DECIMALS", 6, 0, 36),
        crypto_confirmations=r.integer("CRYPTO_CONFIRMATIONS", 12, 1, 10_000),
        afterdark_webhook_secret=r.text("AFTERDARK_WEBHOOK_SECRET", ""),
        public_url=r.text("PUBLIC_URL", "").rstrip("/"),
        credits_enforced=r.boolean("CREDITS_ENFORCED", True),
        new_user_credit=_dollars(r, "NEW_USER_CREDIT_USD"),
        credits_default_cap=_dollars(r, "CREDITS_DEFAULT_CAP"),
        billing_flush_interval_ms=r.integer("BILLING_FLUSH_INTERVAL_MS", 250, 10, 60_000),
        gpu_accrual_interval_seconds=r.integer("GPU_ACCRUAL_INTERVAL_SECONDS", 60, 1, 3600),
        local_fleet_enabled=r.boolean("LOCAL_FLEET_ENABLED", True),
        gpu_poll_interval_seconds=_seconds(r, "GPU_POLL_INTERVAL_SECONDS", 30.0, 0.1, 86_400),
        gpu_offer_cache_seconds=_seconds(r, "GPU_OFFER_CACHE_SECONDS", 10.0, 0.0, 3600),
        gpu_start_timeout_seconds=_seconds(r, "GPU_START_TIMEOUT_SECONDS", 900.0, 10.0, 86_400),
        gpu_orphan_reap_interval_seconds=_seconds(
            r, "GPU_ORPHAN_REAP_INTERVAL_SECONDS", 600.0, 0.0, 86_400
        ),
        gpu_orphan_grace_seconds=_seconds(r, "GPU_ORPHAN_GRACE_SECONDS", 900.0, 0.0, 604_800),
        **_gateway_settings(r),
        serving=read_serving_settings(r),
    )


class _GatewayFields(TypedDict):
    gateway_worker_max_concurrency: int
    gateway_queue_max_depth: int
    gateway_queue_timeout_s: float
    gateway_queue_max_timeout_s: float
    gateway_default_max_tokens: int
    gateway_default_input_price: int
    gateway_default_output_price: int
    gateway_upstreams: str
    gateway_proxy_allowlist: tuple[str, ...]
    worker_allowed_networks: tuple[str, ...]
    gateway_connect_timeout_s: float
    gateway_first_byte_timeout_s: float
    gateway_total_timeout_s: float
    gateway_upstream_ca_pem: str
    gateway_max_request_bytes: int
    gateway_proxy_max_response_bytes: int
    gateway_usage_batch_size: int
    gateway_usage_flush_ms: int
    gateway_allowance_micros: int
    gateway_allowance_ttl_ms: int
    gateway_stall_timeout_s: float
    gateway_data_plane_threads: int
    gateway_usage_ring: int
    gateway_control_plane_nice: int
    gateway_otel_traces: bool


def _gateway_settings(r: _Reader) -> _GatewayFields:
    """The inference gateway's GATEWAY_* variables."""

    def seconds(name: str, default: float, low: float, high: float) -> float:
        def parse(value: str) -> float:
            number = float(value)
            if not low <= number <= high:
                raise ValueError(value)
            return number

        return r.parse(name, default, parse, f"a number of seconds from {low:g} to {high:g}")

    def price(name: str) -> int:
        def parse(value: str) -> int:
            micros = dollars_to_micros(value)
            if micros < 0:
                raise ValueError(value)
            return micros

        return r.parse(name, 0, parse, "a non-negative dollar amount per million tokens")

    allowlist = tuple(
        entry.strip() for entry in r.text("GATEWAY_PROXY_ALLOWLIST", "").split(",") if entry.strip()
    )

    def networks(value: str) -> tuple[str, ...]:
        entries = tuple(e.strip() for e in value.split(",") if e.strip())
        for entry in entries:
            ipaddress.ip_network(entry, strict=False)
        return entries

    no_networks: tuple[str, ...] = ()
    worker_networks = r.parse(
        "WORKER_ALLOWED_NETWORKS", no_networks, networks, "comma-separated CIDRs such as 10.0.0.0/8"
    )
    return {
        "gateway_worker_max_concurrency": r.integer(
            "GATEWAY_WORKER_MAX_CONCURRENCY", 64, 0, 1_000_000
        ),
        "gateway_queue_max_depth": r.integer("GATEWAY_QUEUE_MAX_DEPTH", 1000, 0, 1_000_000),
        "gateway_queue_timeout_s": seconds("GATEWAY_QUEUE_TIMEOUT_SECONDS", 30.0, 0, 3600),
        "gateway_queue_max_timeout_s": seconds(
            "GATEWAY_QUEUE_MAX_TIMEOUT_SECONDS", 600.0, 0, 86_400
        ),
        "gateway_default_max_tokens": r.integer("GATEWAY_DEFAULT_MAX_TOKENS", 1024, 1, 10_000_000),
        "gateway_default_input_price": price("GATEWAY_DEFAULT_INPUT_PRICE"),
        "gateway_default_output_price": price("GATEWAY_DEFAULT_OUTPUT_PRICE"),
        "gateway_upstreams": r.text("GATEWAY_UPSTREAMS", ""),
        "gateway_proxy_allowlist": allowlist,
        "worker_allowed_networks": worker_networks,
        "gateway_connect_timeout_s": seconds("GATEWAY_CONNECT_TIMEOUT_SECONDS", 5.0, 0.01, 600),
        "gateway_first_byte_timeout_s": seconds(
            "GATEWAY_FIRST_BYTE_TIMEOUT_SECONDS", 300.0, 0.01, 86_400
        ),
        "gateway_total_timeout_s": seconds("GATEWAY_TOTAL_TIMEOUT_SECONDS", 3600.0, 0.01, 604_800),
        "gateway_upstream_ca_pem": _pem_file(r, "GATEWAY_UPSTREAM_CA_FILE"),
        "gateway_max_request_bytes": r.integer(
            "GATEWAY_MAX_REQUEST_BYTES", 16 * 1024 * 1024, 1024, 1 << 31
        ),
        "gateway_proxy_max_response_bytes": r.integer(
            "GATEWAY_PROXY_MAX_RESPONSE_BYTES", 16 * 1024 * 1024, 1024, 1 << 31
        ),
        "gateway_usage_batch_size": r.integer("GATEWAY_USAGE_BATCH_SIZE", 500, 1, 100_000),
        "gateway_usage_flush_ms": r.integer("GATEWAY_USAGE_FLUSH_MS", 500, 10, 60_000),
        "gateway_allowance_micros": r.integer(
            "GATEWAY_ALLOWANCE_MICROS", 1_000_000, 0, 1_000_000_000_000
        ),
        "gateway_allowance_ttl_ms": r.integer("GATEWAY_ALLOWANCE_TTL_MS", 2000, 10, 600_000),
        "gateway_stall_timeout_s": seconds("GATEWAY_STALL_TIMEOUT_SECONDS", 120.0, 0.01, 86_400),
        "gateway_data_plane_threads": r.integer("GATEWAY_DATA_PLANE_THREADS", 1, 1, 256),
        "gateway_usage_ring": r.integer("GATEWAY_USAGE_RING", 65_536, 16, 16_777_216),
        "gateway_control_plane_nice": r.integer("GATEWAY_CONTROL_PLANE_NICE", 10, 0, 19),
        "gateway_otel_traces": r.boolean("GATEWAY_OTEL_TRACES", False),
    }


_FACILITIES = (
    "LOG_USER", "LOG_DAEMON", "LOG_AUTH", "LOG_LOCAL0", "LOG_LOCAL1", "LOG_LOCAL2",
    "LOG_LOCAL3", "LOG_LOCAL4", "LOG_LOCAL5", "LOG_LOCAL6", "LOG_LOCAL7",
)  # fmt: skip


def _syslog_facility(r: _Reader) -> str:
    value = r.text("SYSLOG_FACILITY", "LOG_LOCAL0").upper()
    if not value.startswith("LOG_"):
        value = "LOG_" + value
    if value not in _FACILITIES:
        raise ConfigError(
            f"SYSLOG_FACILITY={r.raw('SYSLOG_FACILITY')!r} is invalid: expected one of "
            + ", ".join(_FACILITIES)
        )
    return value


_SSH_PUBLIC_KEY = re.compile(r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) \S+")


def _ssh_public_key(value: str) -> str:
    # A private key or a path here would be sent to io.net as is; refuse both at start.
    if value and not _SSH_PUBLIC_KEY.match(value):
        raise ConfigError("IONET_SSH_PUBLIC_KEY is invalid: expected an OpenSSH public key line")
    return value

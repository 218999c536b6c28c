"""TLS for the gRPC port from GRPC_TLS_CERT / GRPC_TLS_KEY (and GRPC_TLS_CLIENT_CA for
client certificates), checked before anything listens: an unreadable file, a file that is
not PEM, or a key that does not belong to the certificate is a ConfigError naming the
variable, not a handshake failure later."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gpuproxy.config import Settings
from gpuproxy.exceptions import ConfigError

__all__ = ["TlsFiles", "load_tls", "server_credentials"]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None


def _read(path: str, variable: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}={path}: cannot read it ({exc.strerror})") from None


def load_tls(settings: Settings) -> TlsFiles | None:
    """None for plaintext (both empty); otherwise the checked PEM files."""
    cert_path, key_path = settings.grpc_tls_cert, settings.grpc_tls_key
    if not cert_path and not key_path:
        if settings.grpc_tls_client_ca:
            raise ConfigError("GRPC_TLS_CLIENT_CA needs GRPC_TLS_CERT and GRPC_TLS_KEY")
        return None
    if not cert_path or not key_path:
        missing = "GRPC_TLS_KEY" if cert_path else "GRPC_TLS_CERT"
        raise ConfigError(f"{missing} is empty: GRPC_TLS_CERT and GRPC_TLS_KEY go together")
    cert_pem = _read(cert_path, "GRPC_TLS_CERT")
    key_pem = _read(key_path, "GRPC_TLS_KEY")
    try:
        cert = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise ConfigError(f"GRPC_TLS_CERT={cert_path}: not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"GRPC_TLS_KEY={key_path}: not an unencrypted PEM private key") from None
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != cert.public_key().public_bytes(*raw):
        raise ConfigError(
            f"GRPC_TLS_KEY={key_path} does not match the certificate in GRPC_TLS_CERT={cert_path}"
        )
    client_ca = None
    if settings.grpc_tls_client_ca:
        client_ca = _read(settings.grpc_tls_client_ca, "GRPC_TLS_CLIENT_CA")
        try:
            x509.load_pem_x509_certificates(client_ca)
        except ValueError:
            raise ConfigError(
                f"GRPC_TLS_CLIENT_CA={settings.grpc_tls_client_ca}: not PEM certificates"
            ) from None
    return TlsFiles(cert_pem, key_pem, client_ca)


def server_credentials(files: TlsFiles) -> Any:
    # Imported here: the daemon's parent process checks the files with `load_tls` and must
    # not initialise gRPC before Granian starts the workers.
    import grpc

    return grpc.ssl_server_credentials(
        [(files.private_key, files.cert_chain)],
        root_certificates=files.client_ca,
        require_client_auth=files.client_ca is not None,
    )

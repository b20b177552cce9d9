"""How services authenticate each other over gRPC: the settings every service and the gateway share.

- ADMIN_API_KEY (at least 32 characters): ADMIN RPCs need it in the `x-admin-api-key` metadata.
- GRPC_TLS_CERT, GRPC_TLS_KEY, GRPC_TLS_CA (PEM files, all three or none): mutual TLS. The server
  accepts only clients whose certificate the CA signed, and the certificate's common name names the
  calling service; clients verify the server's certificate against the same CA.
- INTERNAL_API_KEY (at least 32 characters): without TLS, what proves a caller is a NovaHouse service
  (`x-internal-api-key` metadata). Without TLS and without it, only loopback callers count as services.
- GRPC_ALLOW_INSECURE=true: a service without TLS may listen on a non-loopback address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from services.runtime.access import MIN_SECRET_LENGTH, Secret
from services.runtime.config import ConfigError, Environment

INTERNAL_KEY_KEY = "x-internal-api-key"
# The services whose certificates (common name) count as NovaHouse services.
KNOWN_SERVICES = ("gateway", "chat", "consent", "notifier", "admin")
# The callers whose x-client-ip / x-client-user-agent are believed: they pass on a visitor's identity.
IDENTITY_FORWARDERS = ("gateway", "chat")


@dataclass(frozen=True)
class TlsFiles:
    cert: bytes
    key: bytes = field(repr=False)
    ca: bytes

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


@dataclass(frozen=True)
class GrpcSecurity:
    admin_key: Secret = field(default_factory=lambda: Secret(None))
    internal_key: Secret = field(default_factory=lambda: Secret(None))
    tls: TlsFiles | None = None
    allow_insecure: bool = False

    @classmethod
    def from_env(cls, env: Environment) -> GrpcSecurity:
        return cls(
            admin_key=Secret(secret(env, "ADMIN_API_KEY")),
            internal_key=Secret(secret(env, "INTERNAL_API_KEY")),
            tls=_tls_files(env),
            allow_insecure=env.flag("GRPC_ALLOW_INSECURE", False),
        )

    def check_listen_address(self, host: str) -> None:
        """Raises RuntimeError when a plaintext server would listen beyond loopback unasked."""
        if self.tls is None and not self.allow_insecure and not is_loopback(host):
            raise RuntimeError(
                f"refusing to listen on {host} without TLS: set GRPC_TLS_CERT, GRPC_TLS_KEY and "
                "GRPC_TLS_CA, or GRPC_ALLOW_INSECURE=true on a network only the services share"
            )

    def outgoing_metadata(self) -> tuple[tuple[str, str], ...]:
        """What a service sends on every call to another service (the internal key, without TLS)."""
        if self.tls is None and self.internal_key.configured:
            return ((INTERNAL_KEY_KEY, self.internal_key.reveal()),)
        return ()


def secret(env: Environment, variable: str) -> str | None:
    value = env.optional(variable)
    if value is not None and len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(variable, f"a secret of at least {MIN_SECRET_LENGTH} characters", "<redacted>")
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _tls_files(env: Environment) -> TlsFiles | None:
    names = ("GRPC_TLS_CERT", "GRPC_TLS_KEY", "GRPC_TLS_CA")
    paths = [env.optional(name) for name in names]
    if not any(paths):
        return None
    contents = []
    for name, path in zip(names, paths, strict=True):
        if path is None:
            raise ConfigError(
                name, "a PEM file (GRPC_TLS_CERT, GRPC_TLS_KEY and GRPC_TLS_CA go together)", ""
            )
        try:
            contents.append(Path(path).read_bytes())
        except OSError as error:
            raise ConfigError(name, f"a readable PEM file ({error.strerror})", path) from None
    return TlsFiles(*contents)

"""The gateway's settings (docs/configuration.md), validated before it starts."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from limits import parse_many

from services.gateway.application.ratelimit import Rate
from services.gateway.console.settings import ConsoleSettings
from services.gateway.widget.settings import WidgetSettings
from services.runtime.config import ConfigError, Environment, parse_host_port
from services.runtime.grpc_security import GrpcSecurity
from services.runtime.redis_client import parse_key_prefix, parse_redis_url
from services.runtime.signed_links import secrets_from_env

# The three services of this system, with their default addresses. Any other service whose contract carries
# HTTP annotations needs its `<NAME>_ADDR` variable.
DEFAULT_UPSTREAM_ADDRESSES = {
    "consent": "localhost:50051",
    "notifier": "localhost:50052",
    "chat": "localhost:50053",
}
STRATEGIES = {
    "sliding-window": "sliding-window-counter",
    "sliding-window-counter": "sliding-window-counter",
    "fixed-window": "fixed-window",
    "moving-window": "moving-window",
}
MIN_SECRET_CHARACTERS = 32
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$")


@dataclass(frozen=True)
class RateLimitSettings:
    chat: Rate
    api_hour: Rate
    api_minute: Rate
    strategy: str  # the name `limits` knows the strategy by
    redis_url: str | None = field(repr=False)  # may hold a password
    key_prefix: str
    redis_recheck_seconds: float
    enabled: bool = True  # false: no route is limited (e.g. the load balancer limits instead)
    # IPv6 clients share one budget per network of this prefix length (one subscriber gets a /64).
    ipv6_prefix: int = 64
    # In memory (no Redis, or Redis down): at most this many clients are counted; the least recently
    # seen are forgotten first.
    memory_max_clients: int = 100_000


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    # service key ("consent") -> host:port of its gRPC server
    upstreams: Mapping[str, str]
    rate_limits: RateLimitSettings
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    cors_origins: tuple[str, ...]
    admin_api_key: str | None = field(repr=False)
    # UNSUBSCRIBE_SECRET as a list: the first signs, all verify (rotation).
    unsubscribe_secrets: tuple[bytes, ...] | None = field(repr=False)
    # TLS files and the internal key for calls to the services (services/runtime/grpc_security.py).
    grpc_security: GrpcSecurity
    max_body_bytes: int
    upstream_timeout_seconds: float
    shutdown_grace_seconds: float
    log_level: str
    console: ConsoleSettings
    widget: WidgetSettings
    log_format: str = "text"

    @classmethod
    def from_env(
        cls, env: Environment, upstream_names: Iterable[str] = tuple(DEFAULT_UPSTREAM_ADDRESSES)
    ) -> GatewaySettings:
        """Reads every variable; `upstream_names` are the services the route table calls."""
        return cls(
            host=env.text("GATEWAY_HOST", "127.0.0.1"),
            port=env.port("GATEWAY_PORT", 8080),
            upstreams={name: _upstream_address(env, name) for name in upstream_names},
            rate_limits=RateLimitSettings(
                chat=_rate_limit(env, "CHAT_RATE_LIMIT", "30 per minute"),
                api_hour=_rate_limit(env, "API_RATE_LIMIT_HOUR", "200 per hour"),
                api_minute=_rate_limit(env, "API_RATE_LIMIT_MINUTE", "50 per minute"),
                strategy=env.parsed(
                    "RATE_LIMIT_STRATEGY",
                    STRATEGIES["sliding-window"],
                    lambda raw: STRATEGIES[raw.lower()] if raw.lower() in STRATEGIES else _reject(raw),
                    "one of sliding-window, fixed-window, moving-window",
                ),
                redis_url=env.parsed(
                    "REDIS_URL", None, parse_redis_url, "a redis://, rediss:// or unix:// URL"
                ),
                key_prefix=env.parsed(
                    "REDIS_KEY_PREFIX", "novahouse", parse_key_prefix, "letters, digits, '-', '_' or ':'"
                )
                + ":gateway",
                redis_recheck_seconds=env.number(
                    "RATE_LIMIT_REDIS_RECHECK_SECONDS", 5.0, minimum=0.05, maximum=3600
                ),
                enabled=env.flag("RATE_LIMIT_ENABLED", True),
                ipv6_prefix=env.integer("RATE_LIMIT_IPV6_PREFIX", 64, minimum=32, maximum=128),
                memory_max_clients=env.integer("RATE_LIMIT_MEMORY_MAX_CLIENTS", 100_000, minimum=100),
            ),
            trusted_proxies=env.parsed(
                "TRUSTED_PROXIES", (), _networks, "comma-separated IP addresses or CIDRs such as 10.0.0.0/8"
            ),
            cors_origins=env.parsed(
                "CORS_ORIGINS", (), _origins, "comma-separated origins such as https://novahouse.pl, or *"
            ),
            admin_api_key=_secret(env, "ADMIN_API_KEY"),
            unsubscribe_secrets=secrets_from_env(env),
            grpc_security=GrpcSecurity.from_env(env),
            max_body_bytes=env.integer("MAX_BODY_BYTES", 64 * 1024, minimum=1, maximum=64 * 1024 * 1024),
            upstream_timeout_seconds=env.number("UPSTREAM_TIMEOUT_SECONDS", 5.0, minimum=0.01, maximum=3600),
            shutdown_grace_seconds=env.number("SHUTDOWN_GRACE_SECONDS", 10.0, minimum=0),
            log_level=env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
            console=ConsoleSettings.from_env(env),
            widget=WidgetSettings.from_env(env),
            log_format=env.choice("LOG_FORMAT", "text", ("text", "json")),
        )


def _reject(raw: str) -> str:
    raise ValueError(raw)


def _upstream_address(env: Environment, name: str) -> str:
    variable = f"{name.upper()}_ADDR"
    default = DEFAULT_UPSTREAM_ADDRESSES.get(name)
    expected = "host:port such as localhost:50051"
    if default is None and env.optional(variable) is None:
        raise ConfigError(variable, f"{expected} (the {name} service has HTTP routes)", "")

    return env.parsed(variable, default or "", parse_host_port, expected)


def parse_rate(raw: str) -> Rate:
    """One limit in the notation of the `limits` library ('30 per minute', '30/minute'); raises
    ValueError."""
    items = parse_many(raw)
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError(raw)
    return Rate(items[0].amount, items[0].get_expiry())


def _rate_limit(env: Environment, variable: str, default: str) -> Rate:
    return env.parsed(variable, parse_rate(default), parse_rate, "one rate limit such as '30 per minute'")


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # strict=False: '10.0.0.1/8' means the network it lies in, as operators tend to write it
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not _ORIGIN.match(origin):
            raise ValueError(raw)
    return origins


def _secret(env: Environment, variable: str) -> str | None:
    value = env.optional(variable)
    if value is not None and len(value) < MIN_SECRET_CHARACTERS:
        raise ConfigError(variable, f"a secret of at least {MIN_SECRET_CHARACTERS} characters", "<redacted>")
    return value

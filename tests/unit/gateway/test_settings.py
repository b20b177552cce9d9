"""The gateway's settings: defaults, and every malformed value named in one line."""

from __future__ import annotations

import ipaddress

import pytest

from services.gateway.settings import GatewaySettings
from services.runtime.config import ConfigError, Environment


def load(**environ: str) -> GatewaySettings:
    return GatewaySettings.from_env(Environment(environ))


def test_defaults_are_the_specs():
    settings = load()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.upstreams == {
        "consent": "localhost:50051",
        "notifier": "localhost:50052",
        "chat": "localhost:50053",
    }
    limits = settings.rate_limits
    assert (limits.chat.quota, limits.chat.window_seconds) == (30, 60)
    assert (limits.api_hour.quota, limits.api_hour.window_seconds) == (200, 3600)
    assert (limits.api_minute.quota, limits.api_minute.window_seconds) == (50, 60)
    assert limits.strategy == "sliding-window-counter"
    assert limits.redis_url is None
    assert settings.trusted_proxies == ()
    assert settings.cors_origins == ()
    assert settings.admin_api_key is None
    assert settings.unsubscribe_secrets is None
    assert settings.max_body_bytes == 64 * 1024
    assert settings.upstream_timeout_seconds == 5.0


def test_values_as_operators_write_them():
    settings = load(
        CHAT_ADDR="chat.internal:6000",
        CHAT_RATE_LIMIT="10/second",
        RATE_LIMIT_STRATEGY="Moving-Window",
        REDIS_URL="redis://:redis-password-xyz@redis:6379/2",
        TRUSTED_PROXIES="10.0.0.1/8, 192.168.1.7 ,::1",
        CORS_ORIGINS="https://novahouse.pl/, http://localhost:3000",
        ADMIN_API_KEY="a" * 32,
        UNSUBSCRIBE_SECRET="s" * 32,
    )
    assert settings.upstreams["chat"] == "chat.internal:6000"
    assert settings.rate_limits.chat.quota == 10
    assert settings.rate_limits.strategy == "moving-window"
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.cors_origins == ("https://novahouse.pl", "http://localhost:3000")
    assert settings.unsubscribe_secrets == (b"s" * 32,)
    assert "a" * 32 not in repr(settings)
    assert "s" * 32 not in repr(settings)
    assert "redis-password-xyz" not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GATEWAY_PORT", "eighty"),
        ("GATEWAY_PORT", "70000"),
        ("CONSENT_ADDR", "localhost"),
        ("NOTIFIER_ADDR", "localhost:0"),
        ("CHAT_ADDR", "http://chat:50053"),
        ("CHAT_RATE_LIMIT", "lots"),
        ("CHAT_RATE_LIMIT", "0 per minute"),
        ("API_RATE_LIMIT_HOUR", "200 per fortnight"),
        ("API_RATE_LIMIT_MINUTE", "5 per minute; 10 per hour"),
        ("RATE_LIMIT_STRATEGY", "token-bucket"),
        ("REDIS_KEY_PREFIX", "has spaces"),
        ("RATE_LIMIT_REDIS_RECHECK_SECONDS", "0"),
        ("REDIS_URL", "http://localhost:6379"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, the-load-balancer"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("CORS_ORIGINS", "novahouse.pl"),
        ("CORS_ORIGINS", "https://novahouse.pl/path"),
        ("ADMIN_API_KEY", "short"),
        ("ADMIN_API_KEY", "k" * 31),
        ("INTERNAL_API_KEY", "k" * 31),
        ("REDIS_URL", "http://user:redis-password-xyz@localhost:6379"),
        ("GRPC_TLS_CERT", "/nonexistent/cert.pem"),
        ("UNSUBSCRIBE_SECRET", "short"),
        ("MAX_BODY_BYTES", "0"),
        ("MAX_BODY_BYTES", "64k"),
        ("UPSTREAM_TIMEOUT_SECONDS", "soon"),
        ("UPSTREAM_TIMEOUT_SECONDS", "0"),
        ("SHUTDOWN_GRACE_SECONDS", "-1"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_a_malformed_value_names_its_variable(variable, value):
    with pytest.raises(ConfigError) as raised:
        load(**{variable: value})
    assert raised.value.name == variable
    assert str(raised.value).startswith(f"{variable}: expected ")
    if variable in ("ADMIN_API_KEY", "UNSUBSCRIBE_SECRET", "INTERNAL_API_KEY"):
        assert value not in str(raised.value)
    assert "redis-password-xyz" not in str(raised.value)


def test_a_service_outside_the_spec_needs_its_address():
    with pytest.raises(ConfigError) as raised:
        GatewaySettings.from_env(Environment({}), ["consent", "billing"])
    assert raised.value.name == "BILLING_ADDR"
    settings = GatewaySettings.from_env(Environment({"BILLING_ADDR": "billing:7000"}), ["consent", "billing"])
    assert settings.upstreams == {"consent": "localhost:50051", "billing": "billing:7000"}

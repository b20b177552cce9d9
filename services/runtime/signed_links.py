"""Signed links in emails: the one-click unsubscribe URL (RFC 8058) and the consent confirmation URL.

A token is `<payload>.<signature>`, both base64url without padding. The payload is the text
`<kind>.<reference>.<issued, Unix seconds>`: kind `u` (unsubscribe; the reference is the consent
subject's keyed pseudonym, never the address) or `c` (confirm; the reference names the pending grant).
The signature is HMAC-SHA256 under the first UNSUBSCRIBE_SECRET of `novahouse-link-v1.` + payload;
every secret of the list verifies (rotation), compared in constant time. Whoever builds or checks a
link reads the same PUBLIC_BASE_URL and UNSUBSCRIBE_SECRET.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.runtime.config import ConfigError, Environment
from services.runtime.errors import InvalidArgument, PermissionDenied

UNSUBSCRIBE = "u"
CONFIRM = "c"
UNSUBSCRIBE_PATH = "/api/unsubscribe/one-click/"
CONFIRM_PATH = "/api/consent/confirm/"
# RFC 8058 links must keep working for as long as a mailbox may hold the email; 60 days at least.
UNSUBSCRIBE_LINK_DAYS = 90
MIN_SECRET_CHARACTERS = 16
MAX_TOKEN_LENGTH = 512
_DOMAIN = b"novahouse-link-v1."
_REFERENCE = re.compile(r"^[0-9a-f]{16,64}$")
_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Link:
    kind: str
    reference: str
    issued_at: dt.datetime


class LinkSigner:
    """Signs with the first secret; verifies with any of them."""

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        self._secrets = tuple(secrets)

    def sign(self, kind: str, reference: str, issued_at: dt.datetime) -> str:
        if kind not in (UNSUBSCRIBE, CONFIRM) or not _REFERENCE.match(reference):
            raise ValueError("a link names its kind and a hexadecimal reference")
        payload = f"{kind}.{reference}.{int(issued_at.timestamp())}".encode()
        return f"{_encode(payload)}.{_encode(_mac(self._secrets[0], payload))}"

    def verify(self, token: str, kind: str, max_age: dt.timedelta, now: dt.datetime) -> Link:
        """The link a token names; InvalidArgument (field `token`) when it is malformed,
        PermissionDenied when its signature is wrong, it is of another kind or it has expired."""
        payload_text, dot, signature_text = token.partition(".")
        if len(token) > MAX_TOKEN_LENGTH or not dot or not payload_text or not signature_text:
            raise InvalidArgument("token", "is not a link token")
        try:
            payload, signature = _decode(payload_text), _decode(signature_text)
        except ValueError:
            raise InvalidArgument("token", "is not a link token") from None
        # Every secret is tried, so the time taken does not tell which one (if any) matched.
        matches = [hmac.compare_digest(_mac(secret, payload), signature) for secret in self._secrets]
        if not any(matches):
            raise PermissionDenied("the link is not valid: its signature does not match")
        found_kind, _, rest = payload.decode("ascii", errors="replace").partition(".")
        reference, _, issued = rest.partition(".")
        if found_kind != kind or not _REFERENCE.match(reference) or not issued.isdigit():
            raise PermissionDenied("the link is not valid for this page")
        issued_at = dt.datetime.fromtimestamp(int(issued), dt.UTC)
        if issued_at - now > _SKEW or now - issued_at > max_age:
            raise PermissionDenied("the link has expired")
        return Link(found_kind, reference, issued_at)


def parse_secrets(raw: str) -> tuple[bytes, ...]:
    """UNSUBSCRIBE_SECRET: one secret, or a comma-separated list (the first signs, all verify);
    raises ValueError when one is shorter than MIN_SECRET_CHARACTERS."""
    secrets = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not secrets or any(len(secret) < MIN_SECRET_CHARACTERS for secret in secrets):
        raise ValueError("secret too short")
    return tuple(secret.encode() for secret in secrets)


def secrets_from_env(env: Environment, name: str = "UNSUBSCRIBE_SECRET") -> tuple[bytes, ...] | None:
    """The secret list of `name`, None when unset; a ConfigError that never shows the value."""
    raw = env.optional(name)
    if raw is None:
        return None
    try:
        return parse_secrets(raw)
    except ValueError:
        expected = f"secrets of at least {MIN_SECRET_CHARACTERS} characters, comma-separated"
        raise ConfigError(name, expected, "<hidden>") from None


def parse_base_url(raw: str) -> str:
    """PUBLIC_BASE_URL: http(s)://host[:port][/prefix], without a trailing slash."""
    url = raw.strip().rstrip("/")
    if not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$", url):
        raise ValueError(raw)
    return url


def default_base_url(host: str | None, port: str | None) -> str:
    """The gateway's own address as `make run` starts it (GATEWAY_HOST, GATEWAY_PORT)."""
    host = host or "127.0.0.1"
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port or 8080}"  # noqa: S104


def link_url(base_url: str, path: str, token: str) -> str:
    return f"{base_url}{path}{token}"


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + payload, hashlib.sha256).digest()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    if not re.match(r"^[A-Za-z0-9_-]+$", text):
        raise ValueError(text)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(text) from None

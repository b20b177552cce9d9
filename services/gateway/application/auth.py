"""Admin authentication: the X-ADMIN-API-KEY header, and the signed, expiring token of one person's email.

Secrets are compared in constant time. With no ADMIN_API_KEY configured the admin routes are off
(403), so a missing setting never opens them. A status token is `<expiry>.<signature>`: the expiry in
Unix seconds and the hex HMAC-SHA256 of `status:<expiry>:<normalised email>`, so a token handed to a
person (or leaked with a forwarded email) stops working by itself.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

from services.gateway.application.errors import permission_denied, unauthenticated
from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument

ADMIN_KEY_HEADER = "x-admin-api-key"
TOKEN_PARAMETER = "token"  # noqa: S105 (a parameter name, not a secret)


class Access(enum.Enum):
    PUBLIC = "public"
    ADMIN = "admin"
    # The admin key, or `?token=` signed for the email in the path.
    ADMIN_OR_EMAIL_TOKEN = "admin-or-email-token"  # noqa: S105


def email_token(secret: bytes, email: str, expires_at: int) -> str:
    """The status token of one email, valid until `expires_at` (Unix seconds)."""
    return _signed_token(secret, normalise_email(email), expires_at)


def _signed_token(secret: bytes, normalised_email: str, expires_at: int) -> str:
    signed = f"status:{expires_at}:{normalised_email}".encode()
    return f"{expires_at}.{hmac.new(secret, signed, hashlib.sha256).hexdigest()}"


class AdminAuth:
    def __init__(
        self,
        admin_api_key: str | None,
        unsubscribe_secrets: bytes | Sequence[bytes] | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._key = admin_api_key.encode() if admin_api_key else None
        if isinstance(unsubscribe_secrets, bytes):
            unsubscribe_secrets = (unsubscribe_secrets,)
        self._secrets = tuple(unsubscribe_secrets or ())  # the first signs, all verify

    def authorize(
        self, access: Access, admin_key: bytes | None, token: str | None, email: str | None
    ) -> None:
        """Returns when the caller may use the route; raises GatewayError (401 or 403) otherwise."""
        if access is Access.PUBLIC:
            return
        if access is Access.ADMIN_OR_EMAIL_TOKEN and token is not None and admin_key is None:
            self._check_token(token, email or "")
            return
        if self._key is None:
            raise permission_denied("admin routes are disabled: ADMIN_API_KEY is not configured")
        if admin_key is None:
            raise unauthenticated("missing X-ADMIN-API-KEY header")
        if not hmac.compare_digest(admin_key, self._key):
            raise unauthenticated("invalid X-ADMIN-API-KEY")

    def _check_token(self, token: str, email: str) -> None:
        if not self._secrets:
            raise permission_denied("signed tokens are disabled: UNSUBSCRIBE_SECRET is not configured")
        expiry, _, _ = token.partition(".")
        if not (expiry.isascii() and expiry.isdigit() and len(expiry) <= 12):
            raise permission_denied("the token does not grant access to this email")
        expires_at = int(expiry)
        try:
            normalised = normalise_email(email)  # once, however many secrets verify
        except InvalidArgument:
            raise permission_denied("the token does not grant access to this email") from None
        expected = [_signed_token(secret, normalised, expires_at) for secret in self._secrets]
        # A token for another email is a valid signature for someone else: the caller is not allowed.
        # Every secret is compared, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(token.encode(), value.encode()) for value in expected]
        if not any(matches):
            raise permission_denied("the token does not grant access to this email")
        if expires_at <= self._clock():
            raise permission_denied("the token has expired")

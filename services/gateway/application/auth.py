"""Admin authentication: the X-ADMIN-API-KEY header, and the signed token of one person's email.

Secrets are compared in constant time. With no ADMIN_API_KEY configured the admin routes are off
(403), so a missing setting never opens them.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Sequence

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


def email_token(secret: bytes, email: str) -> str:
    """The token an unsubscribe link carries: lower-case hex HMAC-SHA256 of the normalised email."""
    return hmac.new(secret, normalise_email(email).encode(), hashlib.sha256).hexdigest()


class AdminAuth:
    def __init__(
        self, admin_api_key: str | None, unsubscribe_secrets: bytes | Sequence[bytes] | None
    ) -> None:
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
        try:
            expected = [email_token(secret, email) for secret in self._secrets]
        except InvalidArgument:
            expected = []
        # A token for another email is a valid signature for someone else: the caller is not allowed.
        # Every secret is compared, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(token.encode(), value.encode()) for value in expected]
        if not any(matches):
            raise permission_denied("the token does not grant access to this email")

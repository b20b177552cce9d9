"""The console's access rules: signed session cookies, CSRF tokens, origin checks, security headers.

The session cookie holds a random session id, its expiry and an HMAC over both; the key signing it is
derived from ADMIN_API_KEY, so the cookie never contains the key, every gateway replica accepts it, and
changing the key ends every session. Logging out revokes the session id in this process (the cookie is
also cleared); another replica would accept a copied cookie until it expires (CONSOLE_SESSION_MINUTES).
A form's CSRF token is an HMAC of the session id: it cannot be forged without the key and dies with the
session. The login form, which has no session yet, uses a double-submit token in its own cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

SESSION_COOKIE = "nh_console"
LOGIN_COOKIE = "nh_console_login"
LANG_COOKIE = "nh_console_lang"
COOKIE_PATH = "/admin"

SECURITY_HEADERS = (
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
)


@dataclass(frozen=True)
class Session:
    id: str
    expires_at: int  # epoch seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SessionSigner:
    def __init__(self, admin_key: str, lifetime_seconds: int) -> None:
        self._key = hmac.new(admin_key.encode(), b"novahouse console session v1", hashlib.sha256).digest()
        self._admin_key = admin_key.encode()
        self.lifetime_seconds = lifetime_seconds
        self._revoked: dict[str, int] = {}

    def key_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._admin_key)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        now = time.time() if now is None else now
        session = Session(secrets.token_hex(12), int(now) + self.lifetime_seconds)
        payload = f"{session.id}.{session.expires_at}"
        return session, f"{payload}.{self._sign(payload)}"

    def verify(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of a valid, unexpired, unrevoked cookie; None otherwise."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        session_id, expires, signature = parts
        if not hmac.compare_digest(signature, self._sign(f"{session_id}.{expires}")):
            return None
        now = time.time() if now is None else now
        if int(expires) <= now or session_id in self._revoked:
            return None
        return Session(session_id, int(expires))

    def revoke(self, session: Session, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[session.id] = session.expires_at

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.id}")

    def csrf_valid(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", self.csrf_token(session))


def login_token() -> str:
    return secrets.token_urlsafe(24)


def origin_problem(headers: dict[str, str], host: str) -> str | None:
    """Why a state-changing request is refused as coming from another site; None when it may pass.

    Browsers send Sec-Fetch-Site and Origin on form posts; since the console's pages say
    `Referrer-Policy: no-referrer`, a same-origin form post carries `Origin: null`, which is accepted
    only together with `Sec-Fetch-Site: same-origin`. Clients that send neither (curl) still need the
    CSRF token."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"the request came from another site (Sec-Fetch-Site: {fetch_site})"
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin == "null":
        return None if fetch_site == "same-origin" else "the request has an opaque origin (Origin: null)"
    netloc = urlsplit(origin).netloc
    if not netloc or netloc.lower() != host.lower():
        return "the request came from another origin"
    return None
